"""Broken input files, each given to the real CLI: the answer must be one clear error line, exit code 2, and
nothing already stored lost or changed. Data for tests/reliability/test_broken_inputs.py and bench/reliability.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from docflywheel.records import Task
from docflywheel.store import Store

DOCFLYWHEEL = [sys.executable, "-m", "docflywheel.cli"]
GOOD_TASK = {"qualname": "pkg.café", "kind": "function", "code": "def f():\n    return 'café'\n"}
GOOD_LINE = json.dumps(GOOD_TASK, ensure_ascii=False)
STORED_TASKS = 5


@dataclass(frozen=True)
class Broken:
    """One broken file: `make` writes it into a folder (beside a good store, `store.duckdb`) and returns the
    command's arguments; `expect` is a regex the error line must match (it names what is wrong and where)."""

    name: str
    kind: str
    make: Callable[[Path], list[str]]
    expect: str


@dataclass(frozen=True)
class Answer:
    case: Broken
    returncode: int
    stderr: str
    rows_lost: int
    problems: tuple[str, ...]

    @property
    def clear(self) -> bool:
        return not self.problems


def good_store(folder: Path) -> Path:
    """A real store with STORED_TASKS tasks in it."""
    store = Store(folder / "store.duckdb")
    store.init()
    store.add_tasks([Task(qualname=f"pkg.f{n}", kind="function", code=f"def f{n}():\n    return {n}\n")
                     for n in range(STORED_TASKS)])
    return store.path


def _store_file(write: Callable[[bytes], bytes], *command: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        path = folder / "broken.duckdb"
        path.write_bytes(write(good_store(folder).read_bytes()))
        return ["--db", str(path), *command]
    return make


def _flipped(data: bytes) -> bytes:
    start = 3 * 4096 + 100  # inside the first block after DuckDB's three header blocks
    return data[:start] + bytes(b ^ 0xFF for b in data[start:start + 4096]) + data[start + 4096:]


def _sqlite(folder: Path) -> list[str]:
    path = folder / "broken.duckdb"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE tasks (id TEXT)")
    return ["--db", str(path), "status"]


def _tasks_file(content: bytes | Callable[[], bytes], name: str = "tasks.jsonl") -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        good_store(folder)
        path = folder / name
        path.write_bytes(content() if callable(content) else content)
        return ["--db", str(folder / "store.duckdb"), "tasks", "import", str(path)]
    return make


def _yaml_file(text: str, option: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        good_store(folder)
        path = folder / "broken.yaml"
        path.write_text(text, encoding="utf-8")
        return ["--db", str(folder / "store.duckdb"), "agents", "run", option, str(path)]
    return make


PRINCIPLE = {"id": "tldr", "principle": "Opens with a summary.", "critique": "Does it?", "revision": "Add one.",
             "checked_by": "verifier", "verifier": "structure"}


def _constitution(**changes: object) -> str:
    principle = {k: v for k, v in {**PRINCIPLE, **changes}.items() if v is not None}
    return json.dumps({"version": 1, "principles": [principle]})  # JSON is YAML


CORRUPT_STORE = r"cannot (open|read) store .*broken\.duckdb .*(corrupt|not a DuckDB file).*(restore it|pass another --db)"
FOREIGN_STORE = r"broken\.duckdb.*not a (valid )?DuckDB.*(move it away|pass another --db)"
SQLITE_STORE = r"cannot open store .*broken\.duckdb: it is a SQLite database, not a DuckDB file: pass another --db"
BROKEN: tuple[Broken, ...] = (
    Broken("store truncated to one block (status)", "store", _store_file(lambda d: d[:4096], "status"), CORRUPT_STORE),
    Broken("store truncated to one block (init)", "store", _store_file(lambda d: d[:4096], "init"), CORRUPT_STORE),
    Broken("store truncated to half (tasks list)", "store", _store_file(lambda d: d[:len(d) // 2], "tasks", "list"),
           CORRUPT_STORE),
    Broken("store truncated to half (tasks export)", "store",
           _store_file(lambda d: d[:len(d) // 2], "tasks", "export", "out.jsonl"), CORRUPT_STORE),
    Broken("store with 4 KiB flipped (status)", "store", _store_file(_flipped, "status"), CORRUPT_STORE),
    Broken("store with 4 KiB flipped (init)", "store", _store_file(_flipped, "init"), CORRUPT_STORE),
    Broken("store of random bytes (status)", "store", _store_file(lambda d: os.urandom(len(d)), "status"),
           CORRUPT_STORE),
    Broken("store of random bytes (init)", "store", _store_file(lambda d: os.urandom(len(d)), "init"), FOREIGN_STORE),
    Broken("store that is a text file (init)", "store", _store_file(lambda d: b"my notes\n", "init"), FOREIGN_STORE),
    Broken("store that is SQLite (status)", "store", _sqlite, SQLITE_STORE),
    Broken("tasks in latin-1", "tasks", _tasks_file(GOOD_LINE.encode("latin-1") + b"\n"),
           r"tasks\.jsonl:1: not UTF-8 text .*save the file as UTF-8"),
    Broken("tasks in UTF-16 with BOM", "tasks", _tasks_file((GOOD_LINE + "\n").encode("utf-16")),
           r"tasks\.jsonl:1: not UTF-8 text .*save the file as UTF-8"),
    Broken("tasks in UTF-16 without BOM", "tasks", _tasks_file((GOOD_LINE + "\n").encode("utf-16-le")),
           r"tasks\.jsonl:1: not UTF-8 text .*save the file as UTF-8"),
    Broken("tasks with a 50 MB field", "tasks",
           _tasks_file(lambda: (json.dumps({**GOOD_TASK, "context": "x" * (50 << 20)}) + "\n").encode()),
           r"tasks\.jsonl:1: field 'context' is 52,428,800 characters, over the [\d,]+ limit: shorten it"),
    Broken("tasks with a NUL byte", "tasks", _tasks_file(GOOD_LINE.replace("return", "return\x00").encode() + b"\n"),
           r"tasks\.jsonl:1: binary content \(NUL byte\)"),
    Broken("tasks file of random bytes", "tasks", _tasks_file(lambda: b"\xff\xfe" + os.urandom(8192)),
           r"tasks\.jsonl:1: not UTF-8 text"),
    Broken("tasks as a JSON array", "tasks", _tasks_file(json.dumps([GOOD_TASK, GOOD_TASK], indent=2).encode()),
           r"tasks\.jsonl: holds a JSON array, not JSONL: write one task object per line"),
    Broken("tasks: a good line, then a bad one", "tasks",
           _tasks_file((GOOD_LINE + "\n" + json.dumps({**GOOD_TASK, "kind": "poem"}) + "\n").encode()),
           r"tasks\.jsonl:2: field 'kind'"),
    Broken("constitution: principle without a critique", "constitution", _yaml_file(
        _constitution(critique=None), "--constitution"), r"broken\.yaml: principle tldr, field 'critique': Field required"),
    Broken("constitution: unknown checked_by", "constitution", _yaml_file(
        _constitution(checked_by="oracle"), "--constitution"), r"broken\.yaml: principle tldr, field 'checked_by'"),
    Broken("constitution: verifier checks without a verifier", "constitution", _yaml_file(
        _constitution(verifier=None), "--constitution"), r"broken\.yaml: principle tldr, field '.*': .*no `verifier`"),
    Broken("constitution: not YAML", "constitution", _yaml_file("principles: [\n  - id: x\n", "--constitution"),
           r"broken\.yaml:\d+: not valid YAML"),
)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _task_count(store: Path) -> int:
    return Store(store).counts().get("tasks", 0) if store.exists() else 0


def try_broken(case: Broken, folder: Path) -> Answer:
    """Give the broken file to the real CLI and check the answer and what is stored."""
    args = case.make(folder)
    store = folder / "store.duckdb"
    before, tasks_before = _digest(folder), _task_count(store)
    done = subprocess.run([*DOCFLYWHEEL, *args], cwd=folder, capture_output=True, text=True, timeout=300, check=False)
    problems = []
    lines = done.stderr.strip().splitlines()
    if done.returncode != 2:
        problems.append(f"exit code {done.returncode}, not 2")
    if len(lines) != 1 or not lines[0].startswith("error: ") or "Traceback" in done.stderr:
        problems.append(f"not one error line: {done.stderr[-300:]!r}")
    elif not re.search(case.expect, lines[0]):
        problems.append(f"error line {lines[0]!r} does not match {case.expect!r}")
    after = _digest(folder)
    if after != before:
        problems.append(f"files changed: {sorted(set(after.items()) ^ set(before.items()))}")
    lost = max(0, tasks_before - _task_count(store))
    if _task_count(store) != tasks_before:
        problems.append(f"stored tasks went from {tasks_before} to {_task_count(store)}")
    return Answer(case, done.returncode, done.stderr.strip(), lost, tuple(problems))
