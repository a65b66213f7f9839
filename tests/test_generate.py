from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from docflywheel.config import GenerationConfig
from docflywheel.generate import generate, plan
from docflywheel.models import load_backend
from docflywheel.store import Store
from docflywheel.tasks import extract_tasks


def test_generation_is_stored_batched_and_resumable(store: Store, micro_model: Path, tmp_path: Path) -> None:
    tasks = extract_tasks("textwrap")
    store.add_tasks(tasks)
    settings = GenerationConfig(max_new_tokens=16, temperature=0.8, batch_size=4)
    backend = load_backend(f"hf:{micro_model}", settings, tmp_path)
    first = generate(store, backend, tasks[:5], n=2, settings=settings, show_progress=False)
    assert (first.requested, first.written, first.skipped, first.failed) == (10, 10, 0, 0)
    rows = store.generations()
    assert len(rows) == 10 and all(r.tokens_out and r.tokens_out <= 16 for r in rows)
    assert len({(r.task_id, r.sample_index) for r in rows}) == 10
    assert all(r.model == f"hf:{micro_model}" and r.sampling["temperature"] == 0.8 for r in rows)
    again = generate(store, backend, tasks, n=2, settings=settings, show_progress=False)
    assert (again.requested, again.written, again.skipped) == (18, 8, 10)
    assert store.counts()["generations"] == 18 and set(again.ids) == {r.id for r in store.generations()}
    shorter = generate(store, backend, tasks[:2], n=1, settings=settings.model_copy(update={"max_new_tokens": 8}),
                       show_progress=False)
    assert len(shorter.ids) == 2 and not set(shorter.ids) & set(again.ids)  # only this run's own rows


def test_planned_ids_do_not_depend_on_batch_size_or_task_order() -> None:
    tasks = extract_tasks("textwrap")
    one = plan(tasks, "m", 2, GenerationConfig(batch_size=1))
    other = plan(list(reversed(tasks)), "m", 2, GenerationConfig(batch_size=8))
    assert {g.id for g, _ in one} == {g.id for g, _ in other}
    assert len({r.seed for _, r in one}) == len(one)


def test_cli_generate_writes_generations_and_reports_them(micro_model: Path, tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "docflywheel.cli", "--db", str(tmp_path / "f.duckdb"), *args],
                              capture_output=True, text=True, timeout=300, check=True)

    cli("init")
    cli("tasks", "add-package", "textwrap")
    summary = json.loads(cli("generate", "--model", f"hf:{micro_model}", "--tasks", "all", "--json").stdout)
    assert summary["written"] == 9 and summary["failed"] == 0 and summary["tokens_out"] > 0
    assert json.loads(cli("status", "--json").stdout)["generations"] == 9
