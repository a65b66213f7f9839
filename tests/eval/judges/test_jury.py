from __future__ import annotations

import numpy as np
import pytest

from docflywheel.errors import InputError
from docflywheel.eval.judges import jury

MEMBERS = ("copier", "noise")


def _synthetic(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three raters around a true 1-5 score; one judge copies their median, the other is uniform noise."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, n)
    raters = np.clip(truth[:, None] + rng.integers(-1, 2, (n, 3)) * (rng.random((n, 3)) < 0.2), 1, 5)
    median = np.median(raters, axis=1)
    scores = np.column_stack([median, rng.integers(1, 6, n)]).astype(float)
    return scores, raters.astype(float)


def test_weights_go_to_the_judge_that_copies_the_humans() -> None:
    scores, raters = _synthetic()
    weights = jury.fit_weights(scores, raters, MEMBERS, "content_adequacy", alpha=0.1)

    assert weights.share[0] > 0.95 and weights.share[1] < 0.05
    assert weights.cv_mae < 0.1 and weights.cv_spearman > 0.95
    verdict = jury.combine(weights, scores)
    assert np.abs(verdict.score - np.median(raters, axis=1)).max() < 0.25


def test_disagreeing_judges_send_an_item_to_review() -> None:
    scores, raters = _synthetic()
    weights = jury.fit_weights(np.column_stack([scores[:, 0], scores[:, 0]]), raters, ("a", "b"), "fluency")
    verdict = jury.combine(weights, [[4.0, 4.0], [1.0, 5.0], [np.nan, 3.0], [np.nan, np.nan]])

    assert verdict.confidence[0] > 0.99 and not verdict.review[0]
    assert verdict.review[1] and verdict.confidence[1] < 0.1
    assert not verdict.review[2] and verdict.score[2] == pytest.approx(3.0, abs=0.3)
    assert verdict.review[3] and verdict.confidence[3] == 0.0


def test_judgment_rows_pivot_into_a_matrix_and_back_into_jury_rows() -> None:
    rows = [
        {"generation_id": "g1", "judge_kind": "rubric", "judge_model": "m", "criterion": "fluency", "score": 4.0},
        {"generation_id": "g1", "judge_kind": "verifier", "judge_model": None, "criterion": "structure", "score": 1.0},
        {"generation_id": "g2", "judge_kind": "rubric", "judge_model": "m", "criterion": "fluency", "score": None,
         "status": "failed"},
        {"generation_id": "g2", "judge_kind": "verifier", "judge_model": None, "criterion": "structure", "score": 0.0},
        {"generation_id": "g3", "generation_b_id": "g1", "judge_kind": "pairwise", "judge_model": "m",
         "criterion": "fluency", "score": None, "verdict": "A"},
    ]
    matrix = jury.judge_matrix(rows)
    assert matrix.item_ids == ("g1", "g2")
    assert matrix.members == ("rubric/m/fluency", "verifier/-/structure")
    assert np.isnan(matrix.scores[1, 0]) and matrix.scores[0].tolist() == [4.0, 1.0]

    scores, raters = _synthetic(30)
    weights = jury.fit_weights(scores, raters, matrix.members, "fluency")
    out = jury.jury_rows(weights, matrix, iteration=2)
    assert [r["generation_id"] for r in out] == ["g1", "g2"]
    assert all(r["judge_kind"] == "jury" and 1 <= r["score"] <= 5 for r in out)
    assert out[1]["evidence"]["members"]["rubric/m/fluency"] is None
    assert [r["id"] for r in out] == [r["id"] for r in jury.jury_rows(weights, matrix)]


def test_fitting_refuses_what_it_cannot_use() -> None:
    with pytest.raises(InputError, match="one label per item"):
        jury.fit_weights(np.ones((5, 2)), np.ones(4), MEMBERS, "fluency")
    with pytest.raises(InputError, match="noise scored none"):
        jury.fit_weights(np.column_stack([np.arange(5.0), np.full(5, np.nan)]), np.arange(5.0), MEMBERS, "fluency")
    with pytest.raises(InputError, match="2 members"):
        jury.fit_weights(np.ones((5, 3)), np.ones(5), MEMBERS, "fluency")
