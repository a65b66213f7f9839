"""Broken stores, task files and constitutions given to the real CLI (tests/reliability/broken_inputs.py), and a
broken rubric given to its loader: one clear error line each, exit code 2, nothing stored lost or changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broken_inputs import BROKEN, Broken, try_broken
from docflywheel.errors import InputError
from docflywheel.eval.rubric import load_rubric


@pytest.mark.parametrize("case", BROKEN, ids=[case.name for case in BROKEN])
def test_each_broken_input_gets_one_clear_error_and_loses_nothing(case: Broken, tmp_path: Path) -> None:
    answer = try_broken(case, tmp_path)
    assert answer.clear, f"{case.name}: " + "; ".join(answer.problems)
    assert answer.returncode == 2 and answer.rows_lost == 0


CRITERION = {"id": "fluency", "name": "Fluency", "definition": "Reads well.",
             "scale": {1: "bad", 2: "poor", 3: "fair", 4: "good", 5: "great"}}
BAD_RUBRICS = {
    "a missing point": ({"scale": {1: "a", 2: "b", 3: "c", 4: "d"}}, r"criterion fluency, field 'scale': needs exactly "
                                                                  r"the points 1, 2, 3, 4, 5 \(found \[1, 2, 3, 4\]\)"),
    "a blank point": ({"scale": {**CRITERION["scale"], 3: " "}}, r"criterion fluency, field 'scale': point 3 has no "
                                                                 r"description"),
    "no definition": ({"definition": None}, r"criterion fluency, field 'definition': Field required"),
    "a bad id": ({"id": "Fluency Score"}, r"criterion Fluency Score, field 'id': String should match pattern"),
    "an unknown field": ({"weight": 2}, r"criterion fluency, field 'weight': Extra inputs are not permitted"),
}


@pytest.mark.parametrize("name", BAD_RUBRICS)
def test_a_broken_rubric_names_the_criterion_and_field(tmp_path: Path, name: str) -> None:
    changes, message = BAD_RUBRICS[name]
    criterion = {k: v for k, v in {**CRITERION, **changes}.items() if v is not None}
    path = tmp_path / "rubric.yaml"
    path.write_text(json.dumps({"version": 1, "criteria": [criterion]}), encoding="utf-8")
    with pytest.raises(InputError, match=message) as raised:
        load_rubric(path)
    assert str(raised.value).startswith(f"{path}: ") and "\n" not in str(raised.value)


def test_a_rubric_with_two_criteria_of_one_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rubric.yaml"
    path.write_text(json.dumps({"criteria": [CRITERION, CRITERION]}), encoding="utf-8")
    with pytest.raises(InputError, match=r"criterion id\(s\) fluency appear more than once: make each id unique"):
        load_rubric(path)
