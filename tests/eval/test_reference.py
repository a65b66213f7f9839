"""Reference similarity with the real MiniLM model and rouge-score."""

from __future__ import annotations

import numpy as np
import pytest

from docflywheel.errors import InputError
from docflywheel.eval.judges.reference import ReferenceJudge, embed, reference_similarity, to_scale


def test_identical_text_scores_one_and_unrelated_scores_low() -> None:
    ref = "Return the sum of the two numbers."
    candidates = [ref, "Adds two numbers and returns the result.", "Opens a socket to the mail server."]
    scores = reference_similarity(candidates, [ref] * 3)
    assert scores.cosine[0] == pytest.approx(1.0, abs=1e-5)
    assert scores.rouge_l[0] == pytest.approx(1.0)
    assert scores.cosine[1] > scores.cosine[2]
    assert scores.rouge_l[2] < 0.2


def test_embeddings_are_unit_vectors_of_384_dimensions() -> None:
    vectors = embed(["def f(x): return x", "identity function"])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_to_scale_maps_the_ends_of_the_range() -> None:
    assert to_scale(np.array([-0.3, 0.0, 0.5, 1.0]), (1, 5)).tolist() == [1, 1, 3, 5]


def test_judge_ranks_a_paraphrase_above_nonsense() -> None:
    ref = "Checks whether the plugin is registered."
    scores = ReferenceJudge().score(["Checks if the plugin is registered.", "banana banana ; ; ."], [ref, ref], (0, 4))
    assert scores[0] > scores[1]


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(InputError, match="one reference per candidate"):
        reference_similarity(["a", "b"], ["a"])
