from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from docflywheel.errors import StoreBusy, StoreError
from docflywheel.records import Generation, Task
from docflywheel.store import Store, latest_version


def _task(name: str) -> Task:
    return Task(qualname=name, kind="function", code=f"def {name}():\n    return 1")


def test_init_creates_schema_and_is_idempotent(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.duckdb")
    assert store.version() == 0
    assert store.init() == (0, latest_version())
    assert store.init() == (latest_version(), latest_version())
    assert set(store.counts()) >= {"tasks", "generations", "critiques", "judgments", "human_labels",
                                   "datasets", "training_runs", "models", "iterations"}


def test_writing_the_same_rows_twice_is_a_no_op(store: Store) -> None:
    tasks = [_task("a"), _task("b"), _task("a")]
    assert store.add_tasks(tasks) == 2
    assert store.add_tasks(tasks) == 0
    assert [t.qualname for t in store.tasks()] == ["a", "b"]


def test_generation_ids_are_content_hashes(store: Store) -> None:
    task = _task("a")
    store.add_tasks([task])
    one = Generation(task_id=task.id, text="x", model="m", prompt_hash="p", seed=1, sampling={"t": 0.5})
    same = Generation(task_id=task.id, text="x", model="m", prompt_hash="p", seed=1, sampling={"t": 0.5})
    other_seed = Generation(task_id=task.id, text="x", model="m", prompt_hash="p", seed=2, sampling={"t": 0.5})
    assert one.id == same.id != other_seed.id
    assert store.add_generations([one, same, other_seed]) == 2
    stored = store.generations(task_ids=[task.id])
    assert {g.id for g in stored} == {one.id, other_seed.id}
    assert stored[0].sampling == {"t": 0.5}


def test_a_file_that_is_not_duckdb_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("my precious notes\n" * 100)
    with pytest.raises(StoreError, match="is not a DuckDB store; move it away"):
        Store(path).init()
    assert path.read_text() == "my precious notes\n" * 100


def test_a_truncated_store_gives_a_clear_error_not_a_fresh_store(tmp_path: Path) -> None:
    path = tmp_path / "f.duckdb"
    store = Store(path)
    store.init()
    store.add_tasks([_task("a")])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(StoreError, match="cannot open store .* corrupt"):
        store.tasks()
    assert path.stat().st_size == len(data) // 3


def test_reading_a_missing_or_uninitialised_store_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at .*run `docflywheel init"):
        Store(tmp_path / "missing.duckdb").tasks()
    empty = Store(tmp_path / "empty.duckdb")
    with empty.connect():
        pass
    with pytest.raises(StoreError, match="schema version 0, expected .*docflywheel init"):
        empty.tasks()


def test_a_writer_in_another_process_makes_us_wait_then_say_busy(tmp_path: Path) -> None:
    path = tmp_path / "f.duckdb"
    Store(path).init()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ready', flush=True); time.sleep(2.5)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreBusy, match=r"is busy: process \d+ has held its write lock"):
            Store(path, busy_timeout_s=0.5).add_tasks([_task("a")])
        started = time.monotonic()
        assert Store(path, busy_timeout_s=30).add_tasks([_task("a")]) == 1  # waits for the holder to exit
        assert time.monotonic() - started > 0.5
    finally:
        holder.kill()
        holder.wait()
