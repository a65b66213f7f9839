from __future__ import annotations

import json

import pytest

from docflywheel.eval.agreement import FIRST, SECOND, TIE, position_consistency
from docflywheel.eval.judges import pairwise
from docflywheel.models import Backend
from docflywheel.records import Generation, Task
from docflywheel.store import Store

CODE = {"A": FIRST, "B": SECOND, "tie": TIE}


@pytest.mark.parametrize(("ab", "ba", "final"), [
    ("A", "B", "A"), ("B", "A", "B"), ("A", "A", "tie"), ("B", "B", "tie"),
    ("tie", "tie", "tie"), ("A", "tie", "tie"), ("tie", "B", "tie"),
])
def test_a_verdict_stands_only_when_it_survives_the_swap(ab: str, ba: str, final: str) -> None:
    assert pairwise.final_verdict(ab, ba) == final


def _by_order(rows: list[dict]) -> dict:
    return {row["order_shown"]: row for row in rows}


def test_a_position_biased_judge_ends_in_a_tie_and_both_raw_verdicts_are_kept(
        scripted: type, task: Task, generations: list[Generation]) -> None:
    always_first = '{"rationale": "The first one is better.", "verdict": "A"}'
    backend = scripted([always_first, always_first])
    run = pairwise.judge(backend, [(task, *generations)], criteria=["content_adequacy"])

    rows = _by_order(run.rows)
    assert set(rows) == {"ab", "ba", None} and len(backend.batches) == 1
    assert rows["ab"]["verdict"] == rows["ba"]["verdict"] == "A"
    assert rows[None]["verdict"] == "tie" and rows[None]["evidence"]["consistent"] is False
    a, b = generations
    shown_ab, shown_ba = (batch.messages[0]["content"] for batch in backend.batches[0])
    assert shown_ab.index(a.text) < shown_ab.index(b.text) and shown_ba.index(b.text) < shown_ba.index(a.text)
    raw = [CODE[rows["ab"]["verdict"]]], [CODE[rows["ba"]["verdict"]]]
    assert position_consistency(*raw).value == 0.0


def test_a_consistent_verdict_stands_in_the_pairs_terms(
        scripted: type, task: Task, generations: list[Generation]) -> None:
    backend = scripted(['{"rationale": "B has an example.", "verdict": "B"}', "Verdict: A"])
    run = pairwise.judge(backend, [(task, *generations)], criteria=["examples"])

    rows = _by_order(run.rows)
    assert rows[None]["verdict"] == "B" and rows[None]["status"] == "ok"
    assert rows[None]["generation_id"] == generations[0].id and rows[None]["generation_b_id"] == generations[1].id
    assert run.repaired == 1 and run.failed == 0


def test_an_unreadable_order_fails_the_final_verdict_and_is_counted(
        scripted: type, task: Task, generations: list[Generation]) -> None:
    backend = scripted(['{"verdict": "A", "rationale": "x"}', "both are nice", "I cannot decide which"])
    run = pairwise.judge(backend, [(task, *generations)], criteria=["fluency"])

    rows = _by_order(run.rows)
    assert [len(batch) for batch in backend.batches] == [2, 1]
    assert rows["ba"]["status"] == "failed" and rows["ba"]["raw"] == "I cannot decide which"
    assert rows[None]["status"] == "failed" and rows[None]["verdict"] is None
    assert run.failed == 1


@pytest.mark.slow
def test_micro_model_judges_both_orders_and_stores_them(
        micro_backend: Backend, store: Store, task: Task, generations: list[Generation]) -> None:
    pairs = [(task, *generations)]
    run = pairwise.judge_and_store(store, micro_backend, pairs, criteria=["fluency"], max_new_tokens=12)

    assert run.stored == 3
    rows = store.judgments_for([generations[0].id], judge_kind="pairwise")[generations[0].id]
    rows_by_order = _by_order(rows)
    assert set(rows_by_order) == {"ab", "ba", None}
    raw = [rows_by_order[o] for o in ("ab", "ba")]
    assert run.failed == sum(r["status"] == "failed" for r in raw)
    assert all(r["raw"] is not None for r in raw)
    final = rows_by_order[None]
    if all(r["status"] == "ok" for r in raw):
        assert final["verdict"] == pairwise.final_verdict(raw[0]["verdict"], raw[1]["verdict"])
    else:
        assert final["status"] == "failed" and json.loads(final["evidence"])["errors"]
    assert all(r["judge_kind"] == "pairwise" and r["generation_b_id"] == generations[1].id for r in rows)

    again = pairwise.judge_and_store(store, micro_backend, pairs, criteria=["fluency"], max_new_tokens=12)
    assert (again.stored, again.skipped) == (0, 1)
