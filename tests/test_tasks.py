from __future__ import annotations

import json
from pathlib import Path

import pytest

from docflywheel.errors import InputError
from docflywheel.records import split_for
from docflywheel.store import Store
from docflywheel.tasks import extract_tasks, read_jsonl, write_jsonl


def test_extracts_public_functions_classes_and_modules_from_a_real_package() -> None:
    tasks = {t.qualname: t for t in extract_tasks("json")}
    dumps = tasks["json.dumps"]
    assert dumps.kind == "function"
    assert dumps.signature.startswith("def dumps(obj, *, skipkeys=False")
    assert dumps.reference.startswith("Serialize ``obj`` to a JSON formatted ``str``.")
    assert "Serialize" not in dumps.code and dumps.code.startswith("def dumps(")
    assert dumps.line and dumps.file.endswith("json/__init__.py")
    assert tasks["json.decoder.JSONDecoder"].kind == "class"
    assert tasks["json"].kind == "module" and "def loads(" in tasks["json"].code
    assert not any(part.startswith("_") for name in tasks for part in name.split("."))


def test_kinds_and_limit_filter_what_is_extracted() -> None:
    only_classes = extract_tasks("json", kinds=["class"])
    assert only_classes and {t.kind for t in only_classes} == {"class"}
    assert len(extract_tasks("textwrap", limit=3)) == 3


def test_split_is_a_stable_hash_of_the_qualified_name() -> None:
    tasks = extract_tasks("logging")
    assert all(t.split == split_for(t.qualname) for t in tasks)
    shares = {s: sum(t.split == s for t in tasks) / len(tasks) for s in ("train", "dev", "test")}
    assert 0.7 < shares["train"] < 0.9 and 0.04 < shares["test"] < 0.2
    assert split_for("logging.getLogger") == split_for("logging.getLogger")


def test_export_then_import_round_trips(store: Store, tmp_path: Path) -> None:
    store.add_tasks(extract_tasks("textwrap"))
    path = tmp_path / "tasks.jsonl"
    assert write_jsonl(store.tasks(), path) == 9
    other = Store(tmp_path / "other.duckdb")
    other.init()
    assert other.add_tasks(read_jsonl(path)) == 9
    assert other.tasks() == store.tasks()


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(InputError, match="unknown task kind"):
        extract_tasks("json", kinds=["method"])


def test_a_missing_package_is_refused() -> None:
    with pytest.raises(InputError, match="package 'no_such_pkg_xyz' is not installed"):
        extract_tasks("no_such_pkg_xyz")


def test_jsonl_lines_name_their_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    good = {"qualname": "m.f", "kind": "function", "code": "def f(): pass"}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "line": "ten"}) + "\n")
    with pytest.raises(InputError, match=r"t\.jsonl:2: field 'line': Input should be a valid integer"):
        read_jsonl(path)
