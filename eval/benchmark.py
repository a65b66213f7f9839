"""Judge-human agreement on a human-labelled file: the figures `docflywheel agreement` prints.

Formats: crupi2025 (code + summary, three criteria 1-5, any language), haque2022 and shi2022 (summary vs
reference, similarity only: neither ships the code); the pairwise autoj and hh-rlhf (eval/pairwise_report.py);
labels, a store's human labels against its jury (eval/label_agreement.py). Pointwise judges: "learned"
(cross-validated, crupi2025 only), "reference" (similarity to the human reference, no fitting), "constant" (the
scale's midpoint, a floor).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from docflywheel.errors import InputError
from docflywheel.eval.agreement import Bootstrap, pointwise_agreement
from docflywheel.eval.human_data import CRUPI_CRITERIA, CRUPI_SCALE, CrupiItem, load_crupi
from docflywheel.eval.human_data_extra import HAQUE_SCALE, SHI_SCALE, load_haque, load_shi
from docflywheel.eval.judges.learned import LearnedJudge, cross_validate
from docflywheel.eval.judges.reference import ReferenceJudge
from docflywheel.eval.label_agreement import labels_report
from docflywheel.eval.pairwise_report import PAIRWISE_FORMATS, Progress, json_ready, pairwise_report
from docflywheel.store import Store

POINTWISE_FORMATS = ("crupi2025", "haque2022", "shi2022")
FORMATS = (*POINTWISE_FORMATS, *PAIRWISE_FORMATS, "labels")
JUDGES = ("default", "learned", "reference", "constant")
DEFAULT_JUDGE = {"crupi2025": "learned", "haque2022": "reference", "shi2022": "reference"}
HUMAN_WRITTEN = "human_written"  # crupi2025's generated_by for the original docstring: the reference


def agreement_report(path: str | Path, fmt: str, judge: str = "default", *, n_splits: int = 5, seed: int = 0,
                     bootstrap: Bootstrap = Bootstrap(), limit: int | None = None, store: Store | None = None,
                     progress: Progress | None = None) -> dict[str, Any]:
    """Per criterion: ordinal alpha, weighted kappa and Spearman vs the rater median, with 95% intervals.

    judge: one of JUDGES; "default" is DEFAULT_JUDGE[fmt]. The learned judge is scored out of fold
    (`n_splits`-fold GroupKFold by function, `seed`), never on items it was fitted on.
    Pairwise formats (`pairwise_report`) report accuracy, position consistency and length bias instead;
    limit: their first N pairs. labels (`labels_report`): `store` holds the generations a labels file names.
    """
    if fmt in PAIRWISE_FORMATS:
        return pairwise_report(path, fmt, judge, limit=limit, n_splits=n_splits, seed=seed, bootstrap=bootstrap,
                               progress=progress)
    if fmt == "labels":
        return labels_report(path, judge, store=store, bootstrap=bootstrap)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if judge not in JUDGES:
        raise InputError(f"unknown judge {judge!r}; use one of {', '.join(JUDGES)}")
    name = DEFAULT_JUDGE[fmt] if judge == "default" else judge
    if fmt == "crupi2025":
        scores, references, scale, identity, fitted = _crupi(load_crupi(path), name, n_splits, seed)
    else:
        scores, references, scale, identity, fitted = _similarity(path, fmt, name)
    criteria = {}
    for criterion, judged in scores.items():
        # an even number of raters gives half-step medians (haque2022: six), which join the ordinal scale
        seen = references[criterion][np.isfinite(references[criterion])].tolist()
        domain = sorted(set(range(scale[0], scale[1] + 1)) | set(seen))
        result = pointwise_agreement(judged, references[criterion], value_domain=domain, bootstrap=bootstrap)
        criteria[criterion] = {k: json_ready(v) for k, v in asdict(result).items()}
        criteria[criterion]["judge_mean"] = _finite_mean(judged)
        criteria[criterion]["human_mean"] = _finite_mean(references[criterion])
    return {"file": str(path), "format": fmt, "judge": name, "identity": identity, "fitted": fitted,
            "n_items": len(next(iter(references.values()))), "scale": list(scale),
            "reference": "median of the raters", "bootstrap": asdict(bootstrap), "criteria": criteria}


def crupi_groups(items: Sequence[CrupiItem]) -> NDArray[Any]:
    """The function each summary documents: cross-validation folds never split one function."""
    return np.array([item.target_id if not item.target_id.startswith("line-") else item.code for item in items])


def _crupi(items: list[CrupiItem], name: str, n_splits: int,
           seed: int) -> tuple[dict[str, NDArray], dict[str, NDArray], tuple[int, int], dict[str, str], str]:
    references = {c: np.array([item.median(c) for item in items]) for c in CRUPI_CRITERIA}
    scale = CRUPI_SCALE
    if name == "learned":
        cv = cross_validate(items, references, crupi_groups(items), n_splits=n_splits, seed=seed, scale=scale)
        identity = LearnedJudge(scale=scale).describe() | {"training_data": f"out of fold, {n_splits} fits"}
        return {c: cv.predictions[c].astype(float) for c in references}, references, scale, identity, cv.description
    if name == "reference":
        scores = _crupi_reference(items, scale)
        return ({c: scores for c in references}, references, scale, asdict(ReferenceJudge.identity),
                "not fitted: fixed map of mean(cosine, ROUGE-L) vs the human_written summary of the same "
                "function onto 1-5; human_written rows and functions without one are left out")
    return _constant(references, scale)


def _crupi_reference(items: list[CrupiItem], scale: tuple[int, int]) -> NDArray[np.float64]:
    reference_of: dict[str, str] = {}
    for item, group in zip(items, crupi_groups(items), strict=True):
        if item.generated_by == HUMAN_WRITTEN:
            reference_of[group] = item.summary
    scored = [i for i, (item, group) in enumerate(zip(items, crupi_groups(items), strict=True))
              if item.generated_by != HUMAN_WRITTEN and group in reference_of]
    if not scored:
        raise InputError("no crupi2025 row has a human_written summary of the same function to compare against; "
                         "the reference judge needs one")
    groups = crupi_groups(items)
    out = np.full(len(items), math.nan)
    out[scored] = ReferenceJudge().score([items[i].summary for i in scored],
                                         [reference_of[groups[i]] for i in scored], scale)
    return out


def _similarity(path: str | Path, fmt: str,
                name: str) -> tuple[dict[str, NDArray], dict[str, NDArray], tuple[int, int], dict[str, str], str]:
    items = load_haque(path) if fmt == "haque2022" else load_shi(path)
    scale = HAQUE_SCALE if fmt == "haque2022" else SHI_SCALE
    references = {"similarity": np.array([item.median() for item in items])}
    if name == "learned":
        raise InputError(f"the learned judge needs code, which {fmt} does not ship; use --judge reference")
    if name == "reference":
        scores = ReferenceJudge().score([i.candidate for i in items], [i.reference for i in items], scale)
        return ({"similarity": scores.astype(float)}, references, scale, asdict(ReferenceJudge.identity),
                f"not fitted: fixed map of mean(cosine, ROUGE-L) onto {scale[0]}-{scale[1]}")
    return _constant(references, scale)


def _constant(references: dict[str, NDArray],
              scale: tuple[int, int]) -> tuple[dict[str, NDArray], dict[str, NDArray], tuple[int, int],
                                               dict[str, str], str]:
    middle = (scale[0] + scale[1]) // 2
    scores = {c: np.full(len(r), float(middle)) for c, r in references.items()}
    identity = {"kind": "constant", "model": "", "version": "1", "prompt_hash": "", "value": str(middle)}
    return scores, references, scale, identity, f"not fitted: always {middle}"


def _finite_mean(values: NDArray) -> float | None:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return round(float(finite.mean()), 4) if finite.size else None

