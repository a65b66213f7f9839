"""The agents graph on a real store and the micro model, including a SIGKILL mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from docflywheel.agents.constitution import load_constitution
from docflywheel.agents.graph import AgentSettings, build_agents_graph
from docflywheel.agents.prompts import template
from docflywheel.agents.run import AgentsRun, run_agents
from docflywheel.config import GenerationConfig, load_config
from docflywheel.errors import InputError, StoreBusy
from docflywheel.eval.scoring import jury_scores
from docflywheel.models.base import Completion, GenerationRequest, ModelSpec
from docflywheel.models.hf import HFBackend
from docflywheel.store import Store
from docflywheel.tasks import extract_tasks

TABLES = ("generations", "critiques", "judgments", "routes")


def _config(db: Path, tmp_path: Path, **overrides: float) -> object:
    return load_config(None, {"store.path": str(db), "generation.max_new_tokens": 24, "generation.batch_size": 4,
                              "models.cache_dir": str(tmp_path), **overrides})


def _run(store: Store, model: Path, tmp_path: Path, max_tasks: int, **overrides: float) -> AgentsRun:
    return run_agents(store, _config(store.path, tmp_path, **overrides), split="all", max_tasks=max_tasks,
                      model=f"hf:{model}", samples=2, show_progress=False)


def _fill(store: Store) -> None:
    store.add_tasks(extract_tasks("textwrap") + extract_tasks("json"))


def _fingerprint(store: Store) -> dict[str, list[str]]:
    prints = {table: store.digest(table) for table in TABLES}
    prints["texts"] = sorted(f"{g.id}:{g.text}" for g in store.generations())
    return prints


class CountingBackend(HFBackend):
    """The real transformers backend, recording how many requests each call carried."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls: list[int] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.calls.append(len(requests))
        return super().generate(requests)


def test_a_run_over_ten_tasks_stores_every_step_and_links_revisions(store: Store, micro_model: Path,
                                                                     tmp_path: Path) -> None:
    _fill(store)
    result = _run(store, micro_model, tmp_path, 10)
    assert (result.tasks, result.generations, result.critiques) == (10, 20, 20)
    critiqued = store.critiques(store.digest("critiques"))
    said_something = sum(c["status"] == "ok" for c in critiqued)
    assert said_something >= 10 and all(c["status"] in ("ok", "empty") for c in critiqued)
    assert result.revisions == said_something  # an empty critique is stored and counted, not revised
    assert result.judged == 20 + said_something == sum(result.routes.values())
    assert set(result.routes) <= {"accepted", "review", "rejected"}
    revisions = store.generations(role="revision")
    critiques = {c["id"]: c for c in store.critiques([r.critique_id for r in revisions])}
    principles = {p.id for p in load_constitution().principles}
    originals = {g.id: g for g in store.generations(role="student")}
    for revision in revisions:
        parent = originals[revision.parent_id]
        assert parent.task_id == revision.task_id
        assert critiques[revision.critique_id]["generation_id"] == parent.id
        assert critiques[revision.critique_id]["principle_id"] in principles
    judged = store.judgments_for([g.id for g in store.generations()])
    assert len(judged) == 20 + said_something
    referenced = {t.id for t in store.tasks() if t.reference}
    by_id = {g.id: g for g in store.generations()}
    assert all({j["judge_kind"] for j in rows} == ({"verifier", "reference"} if by_id[gid].task_id in referenced
                                                   else {"verifier"}) for gid, rows in judged.items())
    again = _run(store, micro_model, tmp_path, 10)
    assert again.generations == 20 and store.counts()["generations"] == 20 + said_something


def test_the_graph_sends_whole_batches_to_the_backend(store: Store, micro_model: Path, tmp_path: Path) -> None:
    _fill(store)
    settings = GenerationConfig(max_new_tokens=8, batch_size=8)
    backend = CountingBackend(ModelSpec("hf", str(micro_model)), batch_size=8)
    graph = build_agents_graph(store, backend, load_constitution(), AgentSettings(samples=2, generation=settings))
    final = graph.compile().invoke({"task_ids": [t.id for t in store.tasks(limit=8)]})
    # 16 generations and 16 critiques in full batches of 8; revisions for the critiques that said something.
    usable = sum(c["status"] == "ok" for c in store.critiques(final["critique_ids"]))
    assert usable > 8
    assert backend.calls == [8, 8, 8, 8, 8, usable - 8]


def _agents_process(db: Path, model: Path, tmp_path: Path) -> subprocess.Popen[str]:
    config = tmp_path / "c.yaml"
    # One request a batch, so the run commits often and a kill lands well before its end.
    config.write_text(f"generation:\n  max_new_tokens: 32\n  batch_size: 1\nmodels:\n  cache_dir: {tmp_path}\n")
    command = [sys.executable, "-m", "docflywheel.cli", "--db", str(db), "--config", str(config), "agents", "run",
               "--split", "all", "--max-tasks", "10", "--model", f"hf:{model}", "--json"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _kill_when(process: subprocess.Popen[str], store: Store, table: str, at_least: int) -> None:
    """SIGKILL the run's process group as soon as `table` holds `at_least` rows, and check it died mid-run."""
    peek = Store(store.path, busy_timeout_s=0)  # never wait on the run's lock: look again a moment later
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if peek.counts().get(table, 0) >= at_least:
                os.killpg(process.pid, signal.SIGKILL)
                break
        except StoreBusy:
            pass
        time.sleep(0.01)
    process.wait()
    if process.returncode != -signal.SIGKILL:
        pytest.fail(f"the run ended (exit {process.returncode}) before it was killed at {at_least} {table}")


@pytest.mark.slow
def test_a_killed_run_resumes_to_exactly_the_rows_of_a_clean_run(micro_model: Path, tmp_path: Path) -> None:
    clean, killed = Store(tmp_path / "clean.duckdb"), Store(tmp_path / "killed.duckdb")
    for store in (clean, killed):
        store.init()
        _fill(store)
    assert _agents_process(clean.path, micro_model, tmp_path).wait(timeout=600) == 0
    _kill_when(_agents_process(killed.path, micro_model, tmp_path), killed, "generations", 4)
    _kill_when(_agents_process(killed.path, micro_model, tmp_path), killed, "critiques", 2)
    resumed = _agents_process(killed.path, micro_model, tmp_path)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert '"resumed": true' in out
    assert _fingerprint(killed) == _fingerprint(clean)


def test_a_malformed_constitution_names_the_principle_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("principles:\n  - id: tldr\n    principle: Be brief.\n    critique: Is it brief?\n"
                    "    revision: Make it brief.\n    checked_by: verifier\n")
    with pytest.raises(InputError, match=r"bad\.yaml: principle tldr, field '\(whole principle\)': "
                                         r"checked_by is verifier but no `verifier` is named"):
        load_constitution(path)
    path.write_text("principles:\n  - id: tldr\n    principle: Be brief.\n    critique: Is it brief?\n"
                    "    checked_by: model\n")
    with pytest.raises(InputError, match=r"principle tldr, field 'revision': Field required"):
        load_constitution(path)


def test_a_missing_prompt_template_is_a_clear_error() -> None:
    with pytest.raises(InputError, match=r"prompt template agents/prompts/summarise\.jinja is missing"):
        template("summarise")


def test_a_rerun_takes_in_human_labels_without_calling_the_model(store: Store, micro_model: Path,
                                                                  tmp_path: Path) -> None:
    _fill(store)
    # The micro model writes junk: thresholds that reject nothing and accept nothing send it all to review.
    everything_to_review = {"route.reject": 1.0, "route.accept": 5.0}
    first = _run(store, micro_model, tmp_path, 4, **everything_to_review)
    queue = store.review_queue()
    routed = {r["generation_id"]: r["decision"] for r in store.routes()}
    assert len(queue) == first.routes.get("review", 0) > 0
    item = queue[0]["generation_id"]
    store.insert("human_labels", [{"id": "label-1", "generation_id": item, "criterion": "content_adequacy",
                                   "score": 5.0, "annotator": "ada", "status": "labelled"}])
    assert item not in {q["generation_id"] for q in store.review_queue()}
    calls_before = store.counts()["generations"], store.counts()["critiques"]
    again = _run(store, micro_model, tmp_path, 4, **everything_to_review)
    assert (store.counts()["generations"], store.counts()["critiques"]) == calls_before
    latest = [r for r in store.routes([item]) if "labelled by a person" in (r["reason"] or "")]
    assert len(latest) == 1 and latest[0]["decision"] == "accepted" and routed[item] == "review"
    assert again.routes.get("accepted", 0) == first.routes.get("accepted", 0) + 1


def test_critique_top_critiques_only_each_tasks_best_sample(store: Store, micro_model: Path, tmp_path: Path) -> None:
    _fill(store)
    result = run_agents(store, _config(store.path, tmp_path), split="all", max_tasks=4, model=f"hf:{micro_model}",
                        samples=3, show_progress=False, critique_top=1)
    assert (result.generations, result.critiques) == (12, 4)
    scores = jury_scores(store, [g.id for g in store.generations(role="student")])
    by_task: dict[str, list[float]] = {}
    for g in store.generations(role="student"):
        by_task.setdefault(g.task_id, []).append(scores[g.id].score)
    for critique in store.critiques(store.digest("critiques")):
        [parent] = store.generations(ids=[critique["generation_id"]])
        assert scores[parent.id].score == max(by_task[parent.task_id])
