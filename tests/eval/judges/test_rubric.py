from __future__ import annotations

import json

import pytest

from docflywheel.eval.judges import rubric
from docflywheel.models import Backend, Completion
from docflywheel.records import Generation, Task
from docflywheel.store import Store


def _rows(store: Store, generations: list[Generation]) -> list[dict]:
    grouped = store.judgments_for([g.id for g in generations], judge_kind="rubric")  # type: ignore[misc]
    return [row for rows in grouped.values() for row in rows]


@pytest.mark.slow
def test_micro_model_judgments_are_stored_and_failures_counted_with_raw_text(
        micro_backend: Backend, store: Store, task: Task, generations: list[Generation]) -> None:
    items = [(task, g) for g in generations]
    run = rubric.judge_and_store(store, micro_backend, items, criteria=["content_adequacy", "fluency"],
                                 max_new_tokens=12)

    assert run.stored == len(run.rows) == 4
    stored = _rows(store, generations)
    assert len(stored) == 4
    failed = [r for r in stored if r["status"] == "failed"]
    assert run.failed == len(failed)
    for row in stored:
        assert row["judge_kind"] == "rubric" and row["judge_model"] == str(micro_backend.spec)
        assert row["judge_prompt_hash"] and row["judge_version"] == rubric.VERSION
        assert row["raw"] is not None
        if row["status"] == "ok":
            assert row["score"] in {1.0, 2.0, 3.0, 4.0, 5.0}
        else:
            assert row["score"] is None and json.loads(row["evidence"])["error"]

    again = rubric.judge_and_store(store, micro_backend, items, criteria=["content_adequacy", "fluency"],
                                   max_new_tokens=12)
    assert (again.stored, again.skipped, again.rows) == (0, 4, [])


def test_all_requests_of_a_call_go_in_one_batch_and_only_failures_are_retried(
        scripted: type, task: Task, generations: list[Generation]) -> None:
    good = '{"rationale": "Says what it does.", "score": 4}'
    backend = scripted([good, "no idea", good, good, '{"rationale": "Fine.", "score": 3}'])
    run = rubric.judge(backend, [(task, g) for g in generations], criteria=["fluency", "conciseness"])

    assert [len(batch) for batch in backend.batches] == [4, 1]
    retry = backend.batches[1][0].messages[0]["content"]
    assert "ONLY this JSON object" in retry and "ONLY" not in backend.batches[0][0].messages[0]["content"]
    assert [r["score"] for r in run.rows] == [4.0, 3.0, 4.0, 4.0]
    assert (run.failed, run.retried) == (0, 1)
    assert all(r["status"] == "ok" for r in run.rows)


MALFORMED = {
    "empty": "",
    "prose": "This documentation is quite good overall.",
    "wrong JSON": '{"rating": "good", "reason": "fine"}',
    "out of range": '{"rationale": "Great.", "score": 7}',
    "score as a word": '{"rationale": "Great.", "score": "four"}',
    "broken JSON": '{"rationale": "Great", "score": }',
    "fraction": '{"rationale": "Great.", "score": 3.5}',
}


@pytest.mark.parametrize("reply", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_reply_malformed_twice_is_a_counted_failed_row_with_its_raw_text(
        scripted: type, task: Task, generations: list[Generation], reply: str) -> None:
    backend = scripted([reply, reply])
    run = rubric.judge(backend, [(task, generations[0])], criteria=["fluency"])

    (row,) = run.rows
    assert run.failed == 1 and row["status"] == "failed" and row["score"] is None
    assert row["raw"] == reply and row["evidence"]["replies"] == [reply, reply]
    assert row["evidence"]["error"]


REPAIRABLE = {
    "fenced": ('```json\n{"rationale": "Clear.", "score": 4}\n```', 4),
    "amid prose": ('Here is my answer: {"rationale": "Clear.", "score": 2} Hope it helps.', 2),
    "score as a string": ('{"rationale": "Clear.", "score": "5"}', 5),
    "Score: N": ("The text is clear and short.\nScore: 4", 4),
    "N/5": ("Rationale: clear.\nscore = 3/5", 3),
}


@pytest.mark.parametrize(("reply", "score"), REPAIRABLE.values(), ids=REPAIRABLE.keys())
def test_readable_replies_are_repaired_without_a_retry(
        scripted: type, task: Task, generations: list[Generation], reply: str, score: int) -> None:
    backend = scripted([reply])
    run = rubric.judge(backend, [(task, generations[0])], criteria=["fluency"])

    (row,) = run.rows
    assert (row["status"], row["score"], run.repaired, len(backend.batches)) == ("ok", score, 1, 1)


def test_backend_errors_are_failed_rows_and_schemas_go_to_backends_that_take_them(
        scripted: type, task: Task, generations: list[Generation]) -> None:
    broken = Completion("", finish_reason="error", error="server went away")
    backend = scripted([broken, broken], json_schema=True)
    run = rubric.judge(backend, [(task, generations[0])], criteria=["fluency"])

    assert run.rows[0]["status"] == "failed" and "server went away" in run.rows[0]["evidence"]["error"]
    assert backend.batches[0][0].json_schema == backend.batches[1][0].json_schema
    assert backend.batches[0][0].json_schema["properties"]["score"]["maximum"] == 5  # type: ignore[index]
    assert scripted(["{}"]).supports_json_schema is False


def test_ids_depend_on_generation_judge_and_criterion_only(
        scripted: type, task: Task, generations: list[Generation]) -> None:
    reply = '{"rationale": "ok", "score": 3}'
    first = rubric.judge(scripted([reply] * 2), [(task, g) for g in generations], criteria=["fluency"])
    second = rubric.judge(scripted([reply] * 2), [(task, g) for g in generations], criteria=["fluency"],
                          iteration=7)
    assert [r["id"] for r in first.rows] == [r["id"] for r in second.rows]
    assert len({r["id"] for r in first.rows}) == 2
    other = rubric.judge(scripted([reply] * 2), [(task, g) for g in generations], criteria=["conciseness"])
    assert not {r["id"] for r in other.rows} & {r["id"] for r in first.rows}
