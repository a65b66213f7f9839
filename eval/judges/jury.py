"""The jury: any judges combined per criterion, with weights fitted to human labels.

Member scores are standardised and regressed on the human (rater median) score with non-negative
ridge weights, so a judge can only help or be ignored. Each member is also calibrated on its own onto
the human scale; the weighted spread of those calibrated scores is the jury's disagreement, its
confidence is 1 - spread / half the scale, and an item whose spread is over `max_spread` goes to review.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from docflywheel.errors import InputError
from docflywheel.records import content_id

JUDGE_KIND = "jury"
VERSION = "1"


@dataclass(frozen=True)
class JudgeMatrix:
    """Scores of many judges on many items: rows are items, columns members, NaN where a judge has none."""

    item_ids: tuple[str, ...]
    members: tuple[str, ...]
    scores: NDArray[np.float64]


@dataclass(frozen=True)
class JuryWeights:
    """A fitted jury for one criterion; `cv_*` are cross-validated figures on the data it was fitted on."""

    criterion: str
    members: tuple[str, ...]
    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    coef: NDArray[np.float64]
    intercept: float
    calibration: NDArray[np.float64]  # (members, 2): intercept and slope mapping each member to the human scale
    low: float = 1.0
    high: float = 5.0
    cv_mae: float = math.nan
    cv_spearman: float = math.nan

    @property
    def share(self) -> NDArray[np.float64]:
        """Each member's part of the verdict (non-negative, summing to 1)."""
        total = self.coef.sum()
        return self.coef / total if total > 0 else np.full(len(self.coef), 1 / len(self.coef))

    def fingerprint(self) -> str:
        return content_id(self.criterion, self.members, np.round(self.coef, 6).tolist(), round(self.intercept, 6),
                          np.round(self.calibration, 6).tolist())


@dataclass(frozen=True)
class JuryVerdict:
    """The jury's view of each item: its score, confidence, spread of calibrated members, review flag."""

    score: NDArray[np.float64]
    confidence: NDArray[np.float64]
    spread: NDArray[np.float64]
    review: NDArray[np.bool_]


def member_name(row: dict[str, Any]) -> str:
    """How a judgment row names its judge in a jury: kind, model and criterion."""
    return f"{row['judge_kind']}/{row.get('judge_model') or '-'}/{row['criterion']}"


def judge_matrix(rows: Sequence[dict[str, Any]], members: Sequence[str] | None = None) -> JudgeMatrix:
    """Pivot scored judgment rows (status ok, score not NULL, pointwise) into an items x members matrix."""
    scored = [r for r in rows if r.get("status", "ok") == "ok" and r.get("score") is not None
              and r.get("generation_b_id") is None]
    names = tuple(members) if members is not None else tuple(sorted({member_name(r) for r in scored}))
    items = tuple(sorted({r["generation_id"] for r in scored}))
    column, line = {m: j for j, m in enumerate(names)}, {g: i for i, g in enumerate(items)}
    table = np.full((len(items), len(names)), np.nan)
    for r in scored:
        j = column.get(member_name(r))
        if j is not None:
            table[line[r["generation_id"]], j] = float(r["score"])
    return JudgeMatrix(items, names, table)


def fit_weights(scores: ArrayLike, human: ArrayLike, members: Sequence[str], criterion: str, *,
                alpha: float = 1.0, folds: int = 5, low: float = 1.0, high: float = 5.0,
                seed: int = 0) -> JuryWeights:
    """Fit non-negative ridge weights of standardised member scores against the human score.

    scores: items x members (NaN where missing, imputed with the member's mean). human: one score per item,
    or items x raters (the median is used). The cv figures come from `folds`-fold cross-validation.
    """
    x, y = _check(scores, human, members)
    filled = _impute(x, np.nanmean(x, axis=0))
    model = make_pipeline(StandardScaler(), Ridge(alpha=alpha, positive=True))
    model.fit(filled, y)
    scaler, ridge = model[0], model[1]
    cv_mae = cv_rho = math.nan
    if len(y) >= 2 * folds:
        predicted = cross_val_predict(make_pipeline(StandardScaler(), Ridge(alpha=alpha, positive=True)), filled, y,
                                      cv=KFold(folds, shuffle=True, random_state=seed))
        cv_mae = float(np.mean(np.abs(np.clip(predicted, low, high) - y)))
        cv_rho = float(stats.spearmanr(predicted, y).statistic) if np.ptp(predicted) > 0 else math.nan
    calibration = np.array([_calibrate(x[:, j], y) for j in range(x.shape[1])])
    return JuryWeights(criterion=criterion, members=tuple(members), mean=scaler.mean_.copy(),
                       scale=scaler.scale_.copy(), coef=ridge.coef_.copy(), intercept=float(ridge.intercept_),
                       calibration=calibration, low=low, high=high, cv_mae=cv_mae, cv_spearman=cv_rho)


def combine(weights: JuryWeights, scores: ArrayLike, *, max_spread: float = 0.75) -> JuryVerdict:
    """The jury's score, confidence and review flag for each item (rows of `scores`, columns as fitted).

    max_spread: in points of the human scale; an item with no member score at all always goes to review.
    """
    x = np.atleast_2d(np.asarray(scores, dtype=float))
    if x.shape[1] != len(weights.members):
        raise InputError(f"jury for {weights.criterion} has {len(weights.members)} members, got {x.shape[1]} columns")
    present = ~np.isnan(x)
    z = (_impute(x, weights.mean) - weights.mean) / weights.scale
    score = np.clip(z @ weights.coef + weights.intercept, weights.low, weights.high)
    calibrated = weights.calibration[:, 0] + weights.calibration[:, 1] * x
    share = np.where(present, weights.share, 0.0)
    total = share.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    centre = np.nansum(np.where(present, calibrated, 0.0) * share, axis=1) / safe
    variance = np.nansum(np.where(present, (calibrated - centre[:, None]) ** 2, 0.0) * share, axis=1) / safe
    spread = np.sqrt(variance)
    confidence = np.clip(1 - spread / ((weights.high - weights.low) / 2), 0.0, 1.0)
    nothing = ~present.any(axis=1)
    confidence = np.where(nothing, 0.0, confidence)
    return JuryVerdict(score=score, confidence=confidence, spread=spread, review=(spread > max_spread) | nothing)


def jury_rows(weights: JuryWeights, matrix: JudgeMatrix, *, max_spread: float = 0.75,
              iteration: int | None = None) -> list[dict[str, Any]]:
    """Judgment rows (kind "jury") for the items of `matrix`; the weights' fingerprint is the prompt hash."""
    if matrix.members != weights.members:
        raise InputError(f"jury for {weights.criterion} was fitted on {', '.join(weights.members)}, "
                         f"not {', '.join(matrix.members)}")
    verdict = combine(weights, matrix.scores, max_spread=max_spread)
    fingerprint = weights.fingerprint()
    return [{
        "id": content_id("judgment", item, JUDGE_KIND, fingerprint, VERSION, weights.criterion, max_spread),
        "generation_id": item, "judge_kind": JUDGE_KIND, "judge_model": None, "judge_prompt_hash": fingerprint,
        "judge_version": VERSION, "criterion": weights.criterion, "score": float(verdict.score[i]),
        "evidence": {"confidence": float(verdict.confidence[i]), "spread": float(verdict.spread[i]),
                     "review": bool(verdict.review[i]),
                     "members": {m: None if math.isnan(v) else float(v)
                                 for m, v in zip(matrix.members, matrix.scores[i], strict=True)}},
        "status": "ok", "iteration": iteration,
    } for i, item in enumerate(matrix.item_ids)]


def _check(scores: ArrayLike, human: ArrayLike, members: Sequence[str]) -> tuple[NDArray, NDArray]:
    x = np.asarray(scores, dtype=float)
    y = np.asarray(human, dtype=float)
    if y.ndim == 2:
        y = np.nanmedian(y, axis=1)
    if x.ndim != 2 or x.shape[1] != len(members):
        raise InputError(f"scores must be items x {len(members)} members, got shape {x.shape}")
    if len(y) != len(x):
        raise InputError(f"{len(x)} items of judge scores but {len(y)} human labels: give one label per item")
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    if len(y) < 3:
        raise InputError(f"only {len(y)} items have human labels: a jury needs at least 3 to fit")
    empty = [m for j, m in enumerate(members) if np.isnan(x[:, j]).all()]
    if empty:
        raise InputError(f"judge(s) {', '.join(empty)} scored none of the labelled items: leave them out")
    return x, y


def _impute(x: NDArray, fill: NDArray) -> NDArray:
    return np.where(np.isnan(x), fill, x)


def _calibrate(column: NDArray, y: NDArray) -> tuple[float, float]:
    """Intercept and slope of the human score on one member's score (its mean when it is constant)."""
    seen = ~np.isnan(column)
    if seen.sum() < 2 or np.ptp(column[seen]) == 0:
        return float(np.mean(y[seen]) if seen.any() else np.mean(y)), 0.0
    fit = LinearRegression().fit(column[seen, None], y[seen])
    return float(fit.intercept_), float(fit.coef_[0])
