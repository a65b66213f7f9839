from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from docflywheel.errors import InputError
from docflywheel.eval.rubric import default_path, load_rubric


def test_the_shipped_rubric_has_crupis_criteria_and_the_constitutions() -> None:
    rubric = load_rubric()
    ids = [c.id for c in rubric.criteria]
    assert ids[:3] == ["content_adequacy", "conciseness", "fluency"]
    assert {"structure", "examples", "parameters", "errors", "related"} <= set(ids)
    assert "inferred from the code" in rubric.get("content_adequacy").definition
    assert all(sorted(c.scale) == [1, 2, 3, 4, 5] for c in rubric.criteria)


def _broken(tmp_path: Path, change: dict) -> Path:
    data = yaml.safe_load(default_path().read_text())
    data["criteria"][1].update(change)
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("change", "field"), [
    ({"scale": {1: "a", 2: "b", 3: "c", 4: "d"}}, "scale"),
    ({"definition": ""}, "definition"),
    ({"colour": "red"}, "colour"),
])
def test_a_malformed_criterion_is_named_in_one_line(tmp_path: Path, change: dict, field: str) -> None:
    with pytest.raises(InputError) as error:
        load_rubric(_broken(tmp_path, change))
    message = str(error.value)
    assert "criterion conciseness" in message and f"field '{field}'" in message and "\n" not in message


def test_unknown_criterion_and_missing_file_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no criterion 'tone'"):
        load_rubric().get("tone")
    with pytest.raises(InputError, match="does not exist"):
        load_rubric(tmp_path / "nope.yaml")
