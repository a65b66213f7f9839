"""Malformed model replies through the real rubric and pairwise judges into a real store: each becomes a counted,
stored failed judgment with its raw text; none raises, none is lost, none takes a good row down with it."""

from __future__ import annotations

import json

import pytest

from docflywheel.eval.judges import pairwise, rubric
from docflywheel.models import Completion
from docflywheel.records import Generation, Task
from docflywheel.store import Store
from model_replies import MALFORMED, ScriptedBackend

TASK = Task(qualname="mathutil.add", kind="function", code="def add(a, b):\n    return a + b\n")


def _pair(store: Store, name: str) -> tuple[Generation, Generation]:
    pair = (Generation(task_id=TASK.id or "", text="Add two numbers.", model=f"{name}-a", prompt_hash="p"),
            Generation(task_id=TASK.id or "", text="Return a + b.", model=f"{name}-b", prompt_hash="p"))
    store.add_tasks([TASK])
    store.add_generations(list(pair))
    return pair


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_reply_is_a_stored_failed_judgment_never_an_exception(store: Store, name: str) -> None:
    reply = MALFORMED[name]
    raw = reply.text if isinstance(reply, Completion) else reply
    a, b = _pair(store, name)

    scored = rubric.judge_and_store(store, ScriptedBackend(reply), [(TASK, a)], criteria=["fluency"])
    compared = pairwise.judge_and_store(store, ScriptedBackend(reply), [(TASK, a, b)], criteria=["fluency"])

    assert (scored.failed, scored.stored) == (1, 1) and (compared.failed, compared.stored) == (2, 3)
    rows = store.select("judgments")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"failed"}
    assert all(r["score"] is None and r["verdict"] is None for r in rows)
    (point,) = [r for r in rows if r["judge_kind"] == "rubric"]
    evidence = json.loads(point["evidence"])
    assert evidence["error"] and evidence["attempts"] == 2
    assert len(point["raw"]) == len(raw)  # kept whole (a lone surrogate becomes U+FFFD, one character for one)
    if "\ud800" not in raw:
        assert point["raw"] == raw


def test_a_malformed_reply_does_not_take_the_good_ones_of_its_batch_down(store: Store) -> None:
    gens = [Generation(task_id=TASK.id or "", text=f"Add two numbers, take {n}.", model="m", prompt_hash="p",
                       sample_index=n) for n in range(3)]
    store.add_tasks([TASK])
    store.add_generations(gens)

    class Mixed(ScriptedBackend):
        def generate(self, requests):  # type: ignore[no-untyped-def]
            replies = ['{"rationale": "Clear.", "score": 4}', MALFORMED["lone surrogate"], MALFORMED["nested 100k deep"]]
            return [Completion(replies[n % 3]) for n in range(len(requests))] if len(requests) == 3 else \
                [Completion("still nothing") for _ in requests]

    run = rubric.judge_and_store(store, Mixed(""), [(TASK, g) for g in gens], criteria=["fluency"])
    stored = {r["generation_id"]: r for r in store.select("judgments")}
    assert (run.stored, run.failed) == (3, 2)
    assert stored[gens[0].id]["status"] == "ok" and stored[gens[0].id]["score"] == 4.0
    assert stored[gens[1].id]["status"] == stored[gens[2].id]["status"] == "failed"
