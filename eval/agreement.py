"""Judge-human agreement, reported as the source papers do, each figure with a 95% bootstrap interval.

Pointwise (Crupi et al. 2025): Krippendorff's alpha (ordinal) between the judge and the median of the raters,
plus quadratic-weighted Cohen's kappa and Spearman's rho. Pairwise (Auto-J, Li et al. 2023): accuracy with
ties and without (on items whose human label is not a tie), position consistency, length bias.

Intervals come from `scipy.stats.bootstrap` (percentile method, items resampled with replacement, paired
across the arrays, seeded): it is the maintained implementation, and percentile rather than BCa because
BCa needs a jackknife of every statistic and breaks on degenerate resamples, which small sets produce.
A resample where a statistic is undefined (a single distinct value, say) is left out of the interval.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import krippendorff
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from docflywheel.errors import InputError

FIRST, SECOND, TIE = 0, 1, 2  # Auto-J's labels: which response is better


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are drawn."""

    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class Estimate:
    """A statistic with its bootstrap interval; the interval is NaN when `n` is too small to resample."""

    value: float
    ci_low: float
    ci_high: float
    n: int


@dataclass(frozen=True)
class PointwiseAgreement:
    """One judge against the rater median on one criterion."""

    alpha: Estimate
    kappa: Estimate
    spearman: Estimate


@dataclass(frozen=True)
class PairwiseAgreement:
    """One pairwise judge against human verdicts; the optional figures need swapped runs / lengths."""

    accuracy: Estimate
    accuracy_without_ties: Estimate
    position_consistency: Estimate | None = None
    length_bias: Estimate | None = None


def rater_median(ratings: ArrayLike) -> NDArray[np.float64]:
    """Median over raters of an (items x raters) array; missing ratings (NaN) are skipped."""
    table = np.asarray(ratings, dtype=float)
    if table.ndim != 2:
        raise InputError(f"ratings must be a 2-D items x raters array, got shape {table.shape}")
    return np.nanmedian(table, axis=1)


def ordinal_alpha(judge: ArrayLike, reference: ArrayLike, *, value_domain: Sequence[float] | None = None,
                  bootstrap: Bootstrap = Bootstrap()) -> Estimate:
    """Krippendorff's alpha (ordinal) between the judge's scores and the reference (the rater median).

    value_domain: the ordered scale, e.g. 1..5; by default the values seen in either array.
    """
    x, y = _paired_finite(judge, reference)
    domain = np.asarray(sorted(set(x) | set(y)) if value_domain is None else value_domain, dtype=float)

    def alpha(a: NDArray, b: NDArray) -> float:
        try:
            return float(krippendorff.alpha(reliability_data=np.vstack([a, b]), value_domain=domain,
                                            level_of_measurement="ordinal"))
        except ValueError:  # one distinct value: alpha is undefined
            return math.nan

    return _estimate(alpha, (x, y), bootstrap)


def weighted_kappa(judge: ArrayLike, reference: ArrayLike, *, labels: Sequence[float] | None = None,
                   bootstrap: Bootstrap = Bootstrap()) -> Estimate:
    """Cohen's kappa with quadratic weights.

    labels: the ordered scale, e.g. 1..5 (by default the values seen); kappa treats its steps as equal.
    """
    x, y = _paired_finite(judge, reference)
    scale = np.asarray(sorted(set(x) | set(y)) if labels is None else labels, dtype=float)
    unknown = np.setdiff1d(np.concatenate([x, y]), scale)
    if unknown.size:
        raise InputError(f"scores {unknown.tolist()} are not on the scale {scale.tolist()}; widen `labels`")
    codes = list(range(len(scale)))

    def kappa(a: NDArray, b: NDArray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(cohen_kappa_score(b, a, labels=codes, weights="quadratic"))

    return _estimate(kappa, (np.searchsorted(scale, x), np.searchsorted(scale, y)), bootstrap)


def spearman(judge: ArrayLike, reference: ArrayLike, *, bootstrap: Bootstrap = Bootstrap()) -> Estimate:
    """Spearman's rank correlation; NaN when either side is constant."""
    return _estimate(_rho, _paired_finite(judge, reference), bootstrap)


def pointwise_agreement(judge: ArrayLike, reference: ArrayLike, *, value_domain: Sequence[float] | None = None,
                        bootstrap: Bootstrap = Bootstrap()) -> PointwiseAgreement:
    """Alpha, kappa and Spearman of one judge on one criterion.

    reference: the rater median per item, or an (items x raters) array whose median is taken.
    Items where the judge has no score (NaN, a failed judgment) are left out; `n` counts the rest.
    """
    ref = np.asarray(reference, dtype=float)
    if ref.ndim == 2:
        ref = rater_median(ref)
    return PointwiseAgreement(
        alpha=ordinal_alpha(judge, ref, value_domain=value_domain, bootstrap=bootstrap),
        kappa=weighted_kappa(judge, ref, labels=value_domain, bootstrap=bootstrap),
        spearman=spearman(judge, ref, bootstrap=bootstrap),
    )


def swap_verdict(verdicts: ArrayLike) -> NDArray[np.int64]:
    """A verdict given on the swapped order, mapped back to the original order (first <-> second)."""
    v = _verdicts(verdicts, "verdicts")
    return np.where(v == TIE, TIE, 1 - v)


def pairwise_accuracy(verdicts: ArrayLike, labels: ArrayLike, *, ties: bool = True,
                      bootstrap: Bootstrap = Bootstrap()) -> Estimate:
    """Share of verdicts equal to the human label; with ties=False only items whose label is not a tie count."""
    v, y = _verdicts(verdicts, "verdicts"), _verdicts(labels, "labels")
    _same_length(v, y)
    keep = np.ones(len(y), dtype=bool) if ties else y != TIE
    return _estimate(_mean, ((v[keep] == y[keep]).astype(float),), bootstrap)


def position_consistency(verdicts: ArrayLike, swapped_verdicts: ArrayLike, *,
                         bootstrap: Bootstrap = Bootstrap()) -> Estimate:
    """Share of items whose verdict survives showing the two responses in the other order.

    swapped_verdicts: the judge's verdicts on the swapped order, in the swapped order's own terms.
    """
    v, back = _verdicts(verdicts, "verdicts"), swap_verdict(swapped_verdicts)
    _same_length(v, back)
    return _estimate(_mean, ((v == back).astype(float),), bootstrap)


def length_bias(verdicts: ArrayLike, length_difference: ArrayLike, *,
                bootstrap: Bootstrap = Bootstrap()) -> Estimate:
    """Spearman's rho between the verdict (+1 first, 0 tie, -1 second) and len(first) - len(second).

    Positive means the judge favours the longer response. Run it on the human labels too for the baseline.
    """
    v = _verdicts(verdicts, "verdicts")
    d = np.asarray(length_difference, dtype=float)
    _same_length(v, d)
    direction = np.select([v == FIRST, v == SECOND], [1.0, -1.0], 0.0)
    return _estimate(_rho, (direction, d), bootstrap)


def pairwise_agreement(verdicts: ArrayLike, labels: ArrayLike, *, swapped_verdicts: ArrayLike | None = None,
                       length_difference: ArrayLike | None = None,
                       bootstrap: Bootstrap = Bootstrap()) -> PairwiseAgreement:
    """All pairwise figures of one judge; the optional ones need the swapped verdicts / length differences."""
    return PairwiseAgreement(
        accuracy=pairwise_accuracy(verdicts, labels, ties=True, bootstrap=bootstrap),
        accuracy_without_ties=pairwise_accuracy(verdicts, labels, ties=False, bootstrap=bootstrap),
        position_consistency=None if swapped_verdicts is None
        else position_consistency(verdicts, swapped_verdicts, bootstrap=bootstrap),
        length_bias=None if length_difference is None
        else length_bias(verdicts, length_difference, bootstrap=bootstrap),
    )


def _mean(a: NDArray) -> float:
    return float(np.mean(a)) if len(a) else math.nan


def _rho(a: NDArray, b: NDArray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.spearmanr(a, b).statistic)


def _estimate(statistic: Callable[..., float], arrays: tuple[NDArray, ...], bootstrap: Bootstrap) -> Estimate:
    n = len(arrays[0])
    value = statistic(*arrays) if n else math.nan
    if n < 2:
        return Estimate(value, math.nan, math.nan, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples are handled below
        result = stats.bootstrap(arrays, statistic, paired=True, vectorized=False, method="percentile",
                                 n_resamples=bootstrap.n_resamples, confidence_level=bootstrap.confidence,
                                 rng=np.random.default_rng(bootstrap.seed))
    low, high = result.confidence_interval
    if not (math.isfinite(low) and math.isfinite(high)):
        finite = result.bootstrap_distribution[np.isfinite(result.bootstrap_distribution)]
        tail = 50 * (1 - bootstrap.confidence)
        low, high = np.percentile(finite, [tail, 100 - tail]) if finite.size else (math.nan, math.nan)
    return Estimate(float(value), float(low), float(high), n)


def _paired_finite(judge: ArrayLike, reference: ArrayLike) -> tuple[NDArray, NDArray]:
    x, y = np.asarray(judge, dtype=float), np.asarray(reference, dtype=float)
    if x.ndim != 1 or y.ndim != 1:
        raise InputError(f"judge and reference must be 1-D score arrays, got shapes {x.shape} and {y.shape}")
    _same_length(x, y)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _verdicts(values: ArrayLike, name: str) -> NDArray[np.int64]:
    v = np.asarray(values)
    if v.ndim != 1 or not np.isin(v, (FIRST, SECOND, TIE)).all():
        bad = next((x for x in v.ravel() if x not in (FIRST, SECOND, TIE)), v.shape)
        raise InputError(f"{name} must be a 1-D array of 0 (first better), 1 (second better) or 2 (tie); "
                         f"found {bad!r}")
    return v.astype(np.int64)


def _same_length(a: NDArray, b: NDArray) -> None:
    if len(a) != len(b):
        raise InputError(f"the two arrays must have one entry per item; got {len(a)} and {len(b)}")
