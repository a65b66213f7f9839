"""The recommended jury's score per generation, from real stored judgments."""

from __future__ import annotations

from pathlib import Path

import pytest

from docflywheel.errors import InputError
from docflywheel.eval.judges import verifier_judge
from docflywheel.eval.scoring import combine, jury_scores, load_jury, reference_rows
from docflywheel.records import Generation
from docflywheel.store import Store
from docflywheel.tasks import extract_tasks


def _generation(task_id: str, text: str, index: int) -> Generation:
    return Generation(task_id=task_id, text=text, model="m", role="student", prompt_hash="p", sampling={}, seed=0,
                      sample_index=index)


def test_a_faithful_document_outscores_an_unrelated_one(store: Store) -> None:
    tasks = {t.qualname: t for t in extract_tasks("textwrap", kinds=["function"])}
    task = tasks["textwrap.dedent"]
    store.add_tasks([task])
    good = _generation(task.id, f"Remove any common leading whitespace from every line in text.\n\n"
                                f"Args:\n    text: the text to dedent.\n\nReturns:\n    The dedented text.\n", 0)
    bad = _generation(task.id, "The the the banana.", 1)
    store.add_generations([good, bad])
    rows = reference_rows({task.id: task}, [good, bad]) + verifier_judge.judge(task, good) + verifier_judge.judge(task, bad)
    store.insert("judgments", rows)
    scores = jury_scores(store, [good.id, bad.id, "never-judged"])
    assert set(scores) == {good.id, bad.id}
    assert 1 <= scores[bad.id].score < scores[good.id].score <= 5
    assert {"reference", "verifier"} <= scores[good.id].judge_kinds
    assert scores[good.id].members["verifier/parameters"] == 5.0


def test_combine_weights_members_and_ignores_failed_and_unknown_rows() -> None:
    jury = load_jury()
    rows = [{"judge_kind": "reference", "criterion": "similarity", "score": 5.0},
            {"judge_kind": "verifier", "criterion": "length", "score": 0.0},
            {"judge_kind": "verifier", "criterion": "structure", "score": 1.0, "status": "failed"},
            {"judge_kind": "llm", "criterion": "not-in-the-jury", "score": 1.0}]
    score = combine(rows, jury)
    assert score is not None and set(score.members) == {"reference/similarity", "verifier/length"}
    assert score.score == pytest.approx((3 * 5 + 1 * 1) / 4) and score.spread > 1
    assert combine(rows[2:], jury) is None


def test_a_bad_jury_file_names_the_member_and_field(tmp_path: Path) -> None:
    path = tmp_path / "jury.yaml"
    path.write_text("members:\n  - {judge_kind: verifier, criterion: length, weight: -1}\n")
    with pytest.raises(InputError, match=r"jury.yaml: member #1, field 'weight'"):
        load_jury(path)
