"""Loaders on the real human-labelled files, and one-line errors on malformed ones."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from docflywheel.errors import InputError
from docflywheel.eval.human_data import CRUPI_CRITERIA, load_autoj, load_crupi, load_hh_rlhf

HEADER = ("target_id,target,generated_by,summary,summary_postprocessed,CA_1,Conciseness_1,Fluency_1,"
          "CA_2,Conciseness_2,Fluency_2,CA_3,Conciseness_3,Fluency_3\n")


def test_crupi_python_set_loads_with_three_ratings_per_criterion(human_data: Path) -> None:
    items = load_crupi(human_data / "crupi2025_code_summarization_python" / "CS-benchmark-Python.csv")
    assert len(items) == 569 and len({item.target_id for item in items}) == 99
    assert Counter(item.generated_by for item in items)["human_written"] == 99
    first = items[0]
    assert first.code.startswith("def parse_subparser_arguments") and first.language == "python"
    assert set(first.ratings) == set(CRUPI_CRITERIA) and all(len(r) == 3 for r in first.ratings.values())
    # Line numbers count the physical lines of multi-line code cells: the second row starts on line 76.
    assert (items[0].line, items[1].line) == (2, 76)


def test_crupi_medians_agree_with_the_files_own_median_columns(human_data: Path) -> None:
    import csv

    path = human_data / "crupi2025_code_summarization_python" / "CS-benchmark-Python.csv"
    items = load_crupi(path)
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for item, row in zip(items, rows, strict=True):
        assert item.median("content_adequacy") == float(row["CA_median"])
        assert item.median("fluency") == float(row["Fluency_median"])


def test_crupi_takes_code_in_any_language(tmp_path: Path) -> None:
    path = tmp_path / "CS-benchmark-Java.csv"
    path.write_text(HEADER + 'j1,"public int add(int a, int b) {\n    return a + b;\n}",human_written,'
                    'Adds.,Adds two ints.,5,5,5,4,4,4,5,4,3\n', encoding="utf-8")
    [item] = load_crupi(path)
    assert item.language == "java" and "return a + b;" in item.code
    assert item.ratings["fluency"] == (5, 4, 3) and item.median("fluency") == 4.0


@pytest.mark.parametrize(("row", "message"), [
    ('x,"def f(): pass",m,s,summary,5,5,5,4,4,4,5,4,9\n', r":2: field 'Fluency_3' is '9'"),
    ('x,"def f(): pass",m,s,summary,5,5,,4,4,4,5,4,3\n', r":2: field 'Fluency_1' is ''"),
    ('x,"def f(): pass",m,s,  ,5,5,5,4,4,4,5,4,3\n', r":2: field 'summary_postprocessed' is empty"),
    ('x,"def f(): pass",m,s,summary,5,5,5\n', r":2: row has 8 fields"),
])
def test_crupi_malformed_rows_name_file_line_and_field(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + row, encoding="utf-8")
    with pytest.raises(InputError, match=message) as caught:
        load_crupi(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_crupi_error_line_is_where_the_row_starts(tmp_path: Path) -> None:
    good = 'a,"def f():\n    return 1",m,s,summary,5,5,5,4,4,4,5,4,3\n'
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + good + good.replace("5,4,3", "5,4,x"), encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.csv:4: field 'Fluency_3'"):
        load_crupi(path)


def test_crupi_missing_columns_and_files_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("target,summary_postprocessed,CA_1\nx,y,1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r":1: missing column\(s\) CA_2"):
        load_crupi(path)
    with pytest.raises(InputError, match="no such file"):
        load_crupi(tmp_path / "absent.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        load_crupi(tmp_path / "empty.csv")


def test_autoj_pairwise_test_set_loads(human_data: Path) -> None:
    items = load_autoj(human_data / "autoj_pairwise_human_test" / "testdata_pairwise.jsonl")
    assert len(items) == 1392
    assert Counter(item.label for item in items) == {0: 520, 1: 499, 2: 373}
    assert Counter(item.scenario for item in items)["explaining_code"] == 24
    assert items[0].response_1 and items[0].response_2 and items[0].line == 1


@pytest.mark.parametrize(("record", "message"), [
    ({"prompt": "p", "response 1": "a", "response 2": "b", "label": 3, "scenario": "s"}, r":2: field 'label' is 3"),
    ({"prompt": "p", "response 1": "a", "response 2": "b", "label": True, "scenario": "s"}, r"field 'label' is True"),
    ({"prompt": "p", "response 1": "a", "label": 0, "scenario": "s"}, r":2: field 'response 2' is missing"),
    ({"prompt": 7, "response 1": "a", "response 2": "b", "label": 0, "scenario": "s"}, r"field 'prompt' must be"),
])
def test_autoj_malformed_lines_name_file_line_and_field(tmp_path: Path, record: dict, message: str) -> None:
    good = {"prompt": "p", "response 1": "a", "response 2": "b", "label": 0, "scenario": "s"}
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_autoj(path)


def test_autoj_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('\n{"prompt": \n', encoding="utf-8")
    with pytest.raises(InputError, match=r"pairs\.jsonl:2: not valid JSON"):
        load_autoj(path)
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(InputError, match=r":1: expected a JSON object, got list"):
        load_autoj(path)


def test_hh_rlhf_folder_loads_every_split(human_data: Path) -> None:
    items = load_hh_rlhf(human_data / "anthropic_hh_rlhf_test")
    assert len(items) == 8552
    assert Counter(item.subset for item in items)["harmless-base"] == 2312
    item = items[0]
    assert item.prompt.startswith("\n\nHuman:") and item.chosen_reply and item.rejected_reply
    assert item.chosen.startswith(item.prompt + "\n\nAssistant:") and item.chosen.endswith(item.chosen_reply)
    assert sum(not i.same_prompt for i in items) == 17


def test_hh_rlhf_malformed_files_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.test.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"chosen": "\n\nHuman: hi\n\nAssistant: yo", "rejected": "\n\nHuman: hi\n\nAssistant: no"}))
        fh.write("\n" + json.dumps({"chosen": "\n\nHuman: hi\n\nAssistant: yo"}) + "\n")
    with pytest.raises(InputError, match=r"bad\.test\.jsonl\.gz:2: field 'rejected' is missing"):
        load_hh_rlhf(path)
    path.write_bytes(gzip.compress(b'{"chosen": "x"}\n')[:-12])  # cut short
    with pytest.raises(InputError, match="cannot read the file"):
        load_hh_rlhf(path)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"chosen": "no turns", "rejected": "\n\nAssistant: x"}) + "\n")
    with pytest.raises(InputError, match=r":1: field 'chosen' has no"):
        load_hh_rlhf(path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no \\*.jsonl.gz files"):
        load_hh_rlhf(tmp_path / "empty")
