"""Agreement statistics on cases small enough to work out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from docflywheel.errors import InputError
from docflywheel.eval.agreement import (
    Bootstrap,
    Estimate,
    length_bias,
    ordinal_alpha,
    pairwise_accuracy,
    pairwise_agreement,
    pointwise_agreement,
    position_consistency,
    rater_median,
    spearman,
    swap_verdict,
    weighted_kappa,
)
from docflywheel.eval.human_data import load_crupi

QUICK = Bootstrap(n_resamples=200, seed=0)
RNG = np.random.default_rng(7)
RATINGS = RNG.integers(1, 6, size=(120, 3))  # 120 items x 3 raters on a 1-5 scale
MEDIAN = rater_median(RATINGS)


def test_rater_median_takes_the_middle_rating_and_skips_missing_ones() -> None:
    assert rater_median([[1, 5, 4], [2, 2, 3], [1, np.nan, 3]]).tolist() == [4.0, 2.0, 2.0]
    with pytest.raises(InputError):
        rater_median([1, 2, 3])


def test_a_judge_that_copies_the_median_gets_alpha_one() -> None:
    result = ordinal_alpha(MEDIAN, MEDIAN, value_domain=range(1, 6), bootstrap=QUICK)
    assert result.value == pytest.approx(1.0)
    assert (result.ci_low, result.ci_high, result.n) == (pytest.approx(1.0), pytest.approx(1.0), 120)


@pytest.mark.parametrize("criterion", ["content_adequacy", "conciseness", "fluency"])
def test_a_constant_judge_gets_alpha_at_most_zero_on_the_crupi_ratings(human_data: Path, criterion: str) -> None:
    items = load_crupi(human_data / "crupi2025_code_summarization_python" / "CS-benchmark-Python.csv")
    median = np.array([item.median(criterion) for item in items])
    for constant in range(1, 6):
        result = ordinal_alpha(np.full(len(median), constant), median, value_domain=range(1, 6), bootstrap=QUICK)
        assert result.value <= 0, constant


def test_a_constant_judge_at_the_median_of_synthetic_ratings_stays_within_one_over_n_of_zero() -> None:
    # alpha's small-sample correction, (n - 1) in the expected disagreement, can lift it just above 0 when
    # the constant sits at the centre of the ratings; it is <= 0 up to that O(1/n) term.
    for constant in range(1, 6):
        result = ordinal_alpha(np.full(len(MEDIAN), constant), MEDIAN, value_domain=range(1, 6), bootstrap=QUICK)
        assert result.value <= 1 / len(MEDIAN)


def test_alpha_on_two_values_matches_the_hand_computation() -> None:
    # Units (0,0), (1,1), (0,1): coincidences o01 = o10 = 1, n0 = n1 = 3, n = 6;
    # alpha = 1 - (n - 1) * (o01 + o10) / (2 * n0 * n1) = 1 - 5 * 2 / 18 = 4/9.
    assert ordinal_alpha([0, 1, 0], [0, 1, 1], bootstrap=QUICK).value == pytest.approx(4 / 9)


def test_a_noisier_judge_gets_a_lower_alpha_with_an_interval_around_it() -> None:
    noisy = np.clip(MEDIAN + RNG.integers(-1, 2, size=len(MEDIAN)), 1, 5)
    result = ordinal_alpha(noisy, MEDIAN, value_domain=range(1, 6), bootstrap=QUICK)
    assert 0 < result.value < 1
    assert result.ci_low < result.value < result.ci_high


def test_weighted_kappa_matches_hand_computed_values() -> None:
    # Two categories: quadratic weights change nothing; po = 3/4, pe = 1/2, kappa = 1/2.
    assert weighted_kappa([0, 1, 1, 1], [0, 0, 1, 1], bootstrap=QUICK).value == pytest.approx(0.5)
    # Three categories: sum(w * observed) = 1/12, sum(w * expected) = 5/12, kappa = 1 - 1/5.
    assert weighted_kappa([1, 3, 3], [1, 2, 3], bootstrap=QUICK).value == pytest.approx(0.8)


def test_weighted_kappa_accepts_half_point_medians_and_refuses_values_off_the_scale() -> None:
    assert weighted_kappa([1.5, 2, 3], [1.5, 2, 3], bootstrap=QUICK).value == pytest.approx(1.0)
    with pytest.raises(InputError, match="not on the scale"):
        weighted_kappa([1, 7], [1, 2], labels=range(1, 6))


def test_spearman_matches_the_textbook_formula() -> None:
    # No ties: rho = 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 4 / 120 = 0.8.
    assert spearman([2, 1, 4, 3, 5], [1, 2, 3, 4, 5], bootstrap=QUICK).value == pytest.approx(0.8)
    assert math.isnan(spearman([3, 3, 3], [1, 2, 3], bootstrap=QUICK).value)


def test_pointwise_agreement_takes_raters_and_leaves_out_failed_judgments() -> None:
    judge = MEDIAN.copy()
    judge[:10] = np.nan
    result = pointwise_agreement(judge, RATINGS, value_domain=range(1, 6), bootstrap=QUICK)
    assert result.alpha.n == result.kappa.n == result.spearman.n == 110
    assert result.alpha.value == pytest.approx(1.0) and result.kappa.value == pytest.approx(1.0)


def test_intervals_are_seeded() -> None:
    noisy = np.clip(MEDIAN + RNG.integers(-1, 2, size=len(MEDIAN)), 1, 5)
    assert spearman(noisy, MEDIAN, bootstrap=QUICK) == spearman(noisy, MEDIAN, bootstrap=QUICK)


def test_one_item_gives_a_value_without_an_interval() -> None:
    result = pairwise_accuracy([0], [0], bootstrap=QUICK)
    assert result.value == 1.0 and math.isnan(result.ci_low) and result.n == 1


def test_accuracy_with_and_without_ties_as_auto_j_reports_it() -> None:
    verdicts = [0, 1, 2, 0, 2]
    labels = [0, 1, 2, 1, 0]
    assert pairwise_accuracy(verdicts, labels, bootstrap=QUICK).value == pytest.approx(3 / 5)
    # Without ties: only items whose human label is not a tie; a tie verdict on them is wrong.
    without = pairwise_accuracy(verdicts, labels, ties=False, bootstrap=QUICK)
    assert (without.value, without.n) == (pytest.approx(2 / 4), 4)


def test_swapped_verdicts_map_back_and_position_consistency_counts_survivors() -> None:
    assert swap_verdict([0, 1, 2]).tolist() == [1, 0, 2]
    # Item 1 survives (0 then 1 in swapped terms), item 2 flips with position, item 3 is a stable tie.
    result = position_consistency([0, 0, 2], [1, 0, 2], bootstrap=QUICK)
    assert result.value == pytest.approx(2 / 3) and result.n == 3


def test_length_bias_is_positive_for_a_judge_that_prefers_longer_answers() -> None:
    difference = RNG.normal(0, 100, size=200)
    prefers_longer = np.where(difference > 0, 0, 1)
    result = length_bias(prefers_longer, difference, bootstrap=QUICK)
    assert result.value > 0.8 and result.ci_low > 0.7
    assert length_bias(1 - prefers_longer, difference, bootstrap=QUICK).value < -0.8


def test_pairwise_agreement_bundles_the_figures() -> None:
    result = pairwise_agreement([0, 1, 2, 0], [0, 1, 1, 2], swapped_verdicts=[1, 1, 2, 0],
                                length_difference=[5, -3, 0, 1], bootstrap=QUICK)
    assert result.accuracy.value == pytest.approx(0.5)
    assert result.accuracy_without_ties.value == pytest.approx(2 / 3)
    assert result.position_consistency is not None and result.position_consistency.value == pytest.approx(0.5)
    assert isinstance(result.length_bias, Estimate)
    assert pairwise_agreement([0], [0], bootstrap=QUICK).position_consistency is None


@pytest.mark.parametrize("verdicts", [[0, 3], [0.5, 1], [[0, 1]]])
def test_verdicts_outside_zero_one_two_are_refused(verdicts: list) -> None:
    with pytest.raises(InputError, match="0 \\(first better\\)"):
        pairwise_accuracy(verdicts, [0, 1])


def test_arrays_of_different_lengths_are_refused() -> None:
    with pytest.raises(InputError, match="one entry per item"):
        spearman([1, 2, 3], [1, 2])
