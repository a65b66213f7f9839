"""The CLI as people use it: a real process, a real store file, exact error lines."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from docflywheel.cli import app

GOOD = {"qualname": "pkg.add", "kind": "function", "code": "def add(a, b):\n    return a + b"}


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "docflywheel.cli", "--db", str(tmp_path / "f.duckdb"), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120)


@pytest.fixture
def cli_store(tmp_path: Path) -> Path:
    assert run(tmp_path, "init").returncode == 0
    assert run(tmp_path, "tasks", "import", _write(tmp_path, "seed.jsonl", json.dumps(GOOD) + "\n")).returncode == 0
    return tmp_path


def _write(folder: Path, name: str, content: str | bytes) -> str:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def test_init_add_package_list_and_idempotency(tmp_path: Path) -> None:
    assert "migrated from schema version 0 to 1" in run(tmp_path, "init").stdout
    assert "is at schema version 1 (up to date)" in run(tmp_path, "init").stdout
    first = run(tmp_path, "tasks", "add-package", "textwrap")
    assert first.stdout.strip() == "textwrap: 9 tasks found, 9 new, 0 already stored"
    again = run(tmp_path, "tasks", "add-package", "textwrap")
    assert again.stdout.strip() == "textwrap: 9 tasks found, 0 new, 9 already stored"
    counts = json.loads(run(tmp_path, "tasks", "list", "--json").stdout)
    assert sum(row["count"] for row in counts) == 9


BAD_FILES = [
    ("notjson.jsonl", "{oops\n", "notjson.jsonl:1: not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
    ("missing.jsonl", json.dumps({"qualname": "a", "kind": "function"}) + "\n", "missing.jsonl:1: field 'code': Field required"),
    ("wrongtype.jsonl", json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "qualname": 5}) + "\n", "wrongtype.jsonl:2: field 'qualname': Input should be a valid string"),
    ("kind.jsonl", json.dumps({**GOOD, "kind": "poem"}) + "\n", "kind.jsonl:1: field 'kind': Input should be 'function', 'class', 'module', 'tutorial' or 'troubleshooting'"),
    ("extra.jsonl", json.dumps({**GOOD, "colour": "red"}) + "\n", "extra.jsonl:1: field 'colour': Extra inputs are not permitted"),
    ("array.jsonl", "[1, 2]\n", "array.jsonl: holds a JSON array, not JSONL: write one task object per line"),
    ("latin1.jsonl", json.dumps(GOOD).encode() + b"\n" + '{"qualname": "caf\xe9"}'.encode("latin-1") + b"\n", "latin1.jsonl:2: not UTF-8 text (byte 105): save the file as UTF-8"),
    ("nul.jsonl", b'{"qualname": "a\x00"}\n', "nul.jsonl:1: binary content (NUL byte): a task file is UTF-8 JSON, one object per line"),
    ("empty.jsonl", "\n\n", "empty.jsonl: holds no tasks: write one JSON object per line"),
    ("blank.jsonl", json.dumps({**GOOD, "code": "   "}) + "\n", "blank.jsonl:1: field 'code': Value error, must not be blank"),
    ("huge.jsonl", json.dumps({**GOOD, "code": "x" * 300_000}) + "\n", "huge.jsonl:1: field 'code' is 300,000 characters, over the 200,000 limit: shorten it or split the task"),
    ("badid.jsonl", json.dumps({**GOOD, "id": "abc"}) + "\n", "badid.jsonl:1: field 'id': abc does not match the task's content"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_task_files_give_one_line_and_store_nothing(cli_store: Path, name: str, content: str, message: str) -> None:
    before = run(cli_store, "status", "--json").stdout
    result = run(cli_store, "tasks", "import", _write(cli_store, name, content))
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith("error: " + str(cli_store / name) + message[len(name):]), line
    assert run(cli_store, "status", "--json").stdout == before


BAD_ARGS = [
    (("tasks", "add-package", "no_such_pkg_xyz"), "error: package 'no_such_pkg_xyz' is not installed (or has no Python source)"),
    (("tasks", "add-package", "json", "--kinds", "method"), "error: unknown task kind(s) method: choose from function, class, module"),
    (("tasks", "import", "nowhere.jsonl"), "error: nowhere.jsonl: no such file: check the path"),
    (("generate", "--model", "gpt4", "--tasks", "all"), "error: model spec 'gpt4' names no backend and no bootstrapped model: write hf:PATH, vllm:PATH, openai:URL#MODEL or one of micro, tiny, small"),
    (("generate", "--model", "openai:http://127.0.0.1:9", "--tasks", "all"), "error: model spec 'openai:http://127.0.0.1:9' names no served model: write openai:URL#MODEL"),
    (("generate", "--tasks", "dev"), "error: no dev tasks in"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGS, ids=[" ".join(a[0]) for a in BAD_ARGS])
def test_bad_arguments_give_one_line_and_store_nothing(cli_store: Path, args: tuple[str, ...], message: str) -> None:
    before = run(cli_store, "status", "--json").stdout
    result = run(cli_store, *args)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message), result.stderr
    assert "Traceback" not in result.stderr
    assert run(cli_store, "status", "--json").stdout == before


def test_a_bad_config_file_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("generation:\n  temperature: hot\n")
    result = run(tmp_path, "--config", str(config), "init")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {config}: field 'generation.temperature': Input should be a valid "
                                     "number, unable to parse string as a number (see `docflywheel config` for the defaults)")


def test_every_command_has_help_and_a_readme_entry() -> None:
    import typer.main

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    group = typer.main.get_command(app)
    names = []
    for name, command in group.commands.items():
        sub = getattr(command, "commands", None)
        names += [f"{name} {s}" for s in sub] if sub else [name]
        for leaf in (sub or {name: command}).values():
            assert leaf.help and leaf.help.strip(), f"`docflywheel {name}` has no help text"
    missing = [n for n in names if not re.search(rf"docflywheel (\[[^\]]*\] )?{re.escape(n)}\b", readme)]
    assert not missing, f"README.md does not mention: {missing}"
