"""A real store holding one small turn of the flywheel, and helpers to run a dashboard page in AppTest."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from docflywheel.dashboard import background
from docflywheel.records import Generation, Task, content_id
from docflywheel.store import Store

CODE = "def add(a, b=1):\n    return a + b\n"


@dataclass
class Flywheel:
    """Ids of the rows the `flywheel` fixture stored, by what they are."""

    store: Store
    review: list[str]  # generations routed to review, oldest route first
    accepted: str
    original: str  # the student generation the first review item is a revision of
    dataset: str


def same_keys(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows padded with None to one set of keys (Arrow takes a batch's columns from its first row)."""
    keys = {key: None for row in rows for key in row}
    return [{**keys, **row} for row in rows]


def _page(db: str, name: str) -> None:
    from docflywheel.dashboard.app import render_page

    render_page(db, name)


class Pages:
    """Runs dashboard pages in AppTest (one page, no navigation) against a store file."""

    def open(self, store: Store, name: str, annotator: str | None = None) -> AppTest:
        app = AppTest.from_function(_page, args=(str(store.path), name), default_timeout=60)
        if annotator is not None:
            app.session_state["annotator"] = annotator
        return app.run()

    @staticmethod
    def charts(app: AppTest) -> dict[str, pd.DataFrame]:
        """Each Altair chart on the page by its title, with the data it draws."""
        found = {}
        for element in app.get("vega_lite_chart"):
            spec = json.loads(element.proto.spec)
            title = spec.get("title", "")
            title = title.get("text", "") if isinstance(title, dict) else title
            data = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in element.proto.datasets]
            found[title] = data[0] if data else pd.DataFrame()
        return found

    @staticmethod
    def settle(app: AppTest) -> AppTest:
        """Wait for the page's background statistics, then run it again."""
        background.wait(timeout_s=120)
        return app.run()


@pytest.fixture
def pages() -> Pages:
    return Pages()


@pytest.fixture
def flywheel(store: Store) -> Flywheel:
    tasks = [Task(qualname=f"pkg.mod.add{i}", kind="function" if i < 3 else "class", code=CODE,
                  signature="add(a, b=1)", reference=f"Add **a** and *b* (task {i}).\n\n:returns: the sum")
             for i in range(4)]
    store.add_tasks(tasks)
    students = [Generation(task_id=t.id, text=f"Adds two numbers, sample {s} of task {n}.", model="tiny",
                           prompt_hash="p", sample_index=s, seed=s, iteration=0)
                for n, t in enumerate(tasks) for s in range(2)]
    store.add_generations(students)
    critique = content_id("critique", students[0].id)
    store.insert("critiques", [{"id": critique, "generation_id": students[0].id, "principle_id": "examples",
                                "critique": "Show a call and its output.", "model": "tiny"}])
    revision = Generation(task_id=tasks[0].id, text="Add two numbers.\n\n>>> add(1)\n3", model="tiny",
                          role="revision", prompt_hash="p", parent_id=students[0].id, critique_id=critique,
                          iteration=0)
    teacher = Generation(task_id=tasks[1].id, text="Return a + b.", model="small", role="teacher", prompt_hash="p",
                         iteration=1)
    store.add_generations([revision, teacher])
    generations = [revision, teacher, *students]
    judgments = []
    for n, g in enumerate(generations):
        judgments.append({"id": content_id("v", g.id), "generation_id": g.id, "judge_kind": "verifier",
                          "judge_version": "1", "criterion": "examples", "score": 0.0 if g is revision else 1.0,
                          "rationale": "0 of 1 examples pass" if g is revision else "all examples pass",
                          "evidence": {"passed": 0, "total": 1, "failures": [
                              {"line": 3, "source": "add(1)", "expected": "3", "got": "2", "ok": False}]}
                          if g is revision else {"passed": 1, "total": 1, "failures": []}, "iteration": 0})
        for criterion in ("content_adequacy", "fluency"):
            judgments.append({"id": content_id("r", g.id, criterion), "generation_id": g.id, "judge_kind": "rubric",
                              "judge_model": "tiny", "judge_version": "1", "criterion": criterion,
                              "score": float(1 + (n % 5)), "rationale": f"rationale {criterion} {n}", "iteration": 0})
    a, b = students[2], students[3]
    for order, verdict in (("ab", "A"), ("ba", "A"), (None, "tie")):
        judgments.append({"id": content_id("p", order), "generation_id": a.id, "generation_b_id": b.id,
                          "judge_kind": "pairwise", "judge_model": "tiny", "judge_version": "1",
                          "criterion": "content_adequacy", "verdict": verdict, "order_shown": order,
                          "rationale": f"{order} verdict", "iteration": 0})
    store.insert("judgments", same_keys(judgments))
    review = [revision.id, students[2].id, students[4].id]
    for n, g in enumerate(review):  # one write each: the queue is ordered by when an item was routed
        store.insert("routes", [{"id": content_id("route", g), "generation_id": g, "decision": "review",
                                 "score": 0.5, "spread": 0.4 - 0.1 * n, "reason": "judges disagree"}])
    store.insert("routes", [{"id": content_id("route", teacher.id), "generation_id": teacher.id,
                             "decision": "accepted", "score": 0.9, "spread": 0.0, "reason": "mean score 0.90"}])
    dataset = content_id("dataset", 1)
    store.insert("datasets", [{"id": dataset, "name": "sft", "kind": "sft", "version": 1,
                               "filter": {"min_score": 0.7}, "row_count": 3, "content_hash": "abc123"}])
    store.insert("dataset_rows", [{"id": content_id("row", p), "dataset_id": dataset, "position": p,
                                   "task_id": tasks[p].id, "data": {"messages": [
                                       {"role": "user", "content": f"Document add{p}"},
                                       {"role": "assistant", "content": f"Adds two numbers ({p})."}]}}
                                  for p in range(3)])
    run = content_id("run", 1)
    store.insert("training_runs", [{"id": run, "kind": "sft", "dataset_id": dataset, "base_model": "tiny",
                                    "status": "done", "iteration": 1, "metrics": {  # as training/runs.py writes
                                        "steps": 9, "final_loss": 2.1,
                                        "curve": [{"step": s, "loss": 3.0 - s / 10} for s in range(10)]}}])
    store.insert("models", [{"id": "model-1", "spec": "tiny+sft-1", "base_model": "tiny", "training_run_id": run,
                             "role": "champion"}])
    store.insert("iterations", [{"id": f"iteration-{i}", "iteration": i, "champion_model_id": "model-1",
                                 "metrics": {"champion": "tiny+sft-1", "champion_score": 2.5 + i, "ci_low": 2.0 + i,
                                             "ci_high": 3.0 + i, "delta": 0.5, "delta_ci_low": 0.1,
                                             "delta_ci_high": 0.9, "promoted": i == 1,
                                             "datasets": {"sft": 3 * (i + 1), "dpo": i}}}
                                for i in range(2)])
    return Flywheel(store=store, review=review, accepted=teacher.id, original=students[0].id, dataset=dataset)
