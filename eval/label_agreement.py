"""People's labels in the store (or a labels file about its generations) against the jury: `agreement --format labels`.

Pointwise labels: the jury score (eval/jury.yaml, 1-5) rounded to the scale against the median human score,
per criterion, as for crupi2025 (the jury gives one score, compared with each criterion people labelled).
Pairwise labels: the jury prefers the generation with the higher jury score, a tie within JURY_TIE; against the
most common human verdict per pair and criterion, with the figures of `pairwise_report`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from docflywheel.errors import InputError
from docflywheel.eval.agreement import FIRST, SECOND, TIE, Bootstrap, pointwise_agreement
from docflywheel.eval.pairwise_report import (Verdicts, baseline_verdicts, json_ready, pairwise_figures,
                                              verdicts_from_scores)
from docflywheel.eval.scoring import SCALE, jury_scores, load_jury
from docflywheel.labels import read_labels
from docflywheel.store import Store

LABEL_JUDGES = ("default", "jury", "longer", "constant")
JURY_TIE = 0.25  # jury points (1-5 scale) within which two generations tie
LABEL_FILES = (".csv", ".jsonl", ".json")
_VERDICT_CODE = {"A": FIRST, "B": SECOND, "tie": TIE}


def labels_report(path: str | Path, judge: str = "default", *, store: Store | None = None,
                  bootstrap: Bootstrap = Bootstrap()) -> dict[str, Any]:
    """Agreement of the jury (or a baseline) with human labels, pointwise per criterion and pairwise per criterion.

    path: a DuckDB store, whose stored labels are read; or a labels CSV / JSONL file about the generations
    of `store` (read and checked as `docflywheel labels import` would, but not stored).
    judge: "jury" (the default), "longer" (pairs only: the longer generation wins) or "constant" (3, or tie).
    """
    if judge not in LABEL_JUDGES:
        raise InputError(f"unknown judge {judge!r} for labels; use one of {', '.join(LABEL_JUDGES)}")
    name = "jury" if judge == "default" else judge
    path = Path(path)
    if path.suffix.lower() in LABEL_FILES:
        if store is None:
            raise InputError(f"{path}: a labels file needs the store holding its generations; pass --db")
        rows = read_labels(path, store)
    else:
        store = Store(path)
        rows = store.select("human_labels", status="labelled")
    rows = sorted(rows, key=lambda r: r["id"])  # the same items in the same order, from a file or the store
    points = [r for r in rows if r["generation_b_id"] is None and r["score"] is not None]
    pairs = [r for r in rows if r["generation_b_id"] is not None and r["verdict"] is not None]
    if not points and not pairs:
        raise InputError(f"{path}: no human labels with a score or a verdict; add some with "
                         f"`docflywheel labels import FILE` or the dashboard's review page")
    ids = sorted({r[k] for r in rows for k in ("generation_id", "generation_b_id") if r[k]})
    jury = {gid: s.score for gid, s in jury_scores(store, ids).items()} if name == "jury" else {}
    identity = {"kind": name, "model": "", "version": str(load_jury().version) if name == "jury" else "1",
                "prompt_hash": ""}
    report: dict[str, Any] = {"file": str(path), "format": "labels", "judge": name, "identity": identity,
                              "fitted": _fitted(name), "n_items": len(rows), "bootstrap": asdict(bootstrap),
                              "reference": "median of the raters (pointwise), most common verdict (pairs)"}
    if points:
        report["criteria"] = _pointwise(points, name, jury, bootstrap)
    if pairs:
        lengths = {g.id: len(g.text) for g in store.generations(ids=ids)}
        report["pairwise"] = _pairwise(pairs, name, jury, lengths, bootstrap)
    return report


def _fitted(name: str) -> str:
    if name == "jury":
        return (f"not fitted to these labels: the jury file's weights; pointwise the jury score rounded to 1-5, "
                f"pairs the higher jury score wins, a tie within {JURY_TIE}")
    return "not fitted: always 3 (pointwise) or a tie (pairs)" if name == "constant" else \
        "not fitted: the longer generation wins (pairs only)"


def _pointwise(rows: list[dict[str, Any]], name: str, jury: dict[str, float],
               bootstrap: Bootstrap) -> dict[str, Any]:
    if name == "longer":
        raise InputError("the longer judge compares pairs; for pointwise labels use --judge jury or constant")
    by_criterion: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        by_criterion.setdefault(row["criterion"], {}).setdefault(row["generation_id"], []).append(float(row["score"]))
    low, high = int(SCALE[0]), int(SCALE[1])
    out = {}
    for criterion, labelled in sorted(by_criterion.items()):
        human = np.array([float(np.median(v)) for v in labelled.values()])
        if name == "jury":
            judged = np.array([np.clip(np.rint(jury[g]), low, high) if g in jury else math.nan for g in labelled])
        else:
            judged = np.full(len(labelled), float((low + high) // 2))
        domain = sorted(set(range(low, high + 1)) | set(human.tolist()))
        result = pointwise_agreement(judged, human, value_domain=domain, bootstrap=bootstrap)
        finite = judged[np.isfinite(judged)]
        out[criterion] = {**json_ready(asdict(result)), "labelled": len(labelled),
                          "unjudged": int(np.count_nonzero(~np.isfinite(judged))),
                          "judge_mean": round(float(finite.mean()), 4) if finite.size else None,
                          "human_mean": round(float(human.mean()), 4)}
    return out


def _pairwise(rows: list[dict[str, Any]], name: str, jury: dict[str, float], lengths: dict[str, int],
              bootstrap: Bootstrap) -> dict[str, Any]:
    votes: dict[str, dict[tuple[str, str], Counter[str]]] = {}
    for row in rows:
        pair = (row["generation_id"], row["generation_b_id"])
        votes.setdefault(row["criterion"], {}).setdefault(pair, Counter())[row["verdict"]] += 1
    out = {}
    for criterion, pairs in sorted(votes.items()):
        kept = [p for p in pairs if name != "jury" or (p[0] in jury and p[1] in jury)]
        if not kept:
            out[criterion] = {"n": 0, "unjudged": len(pairs)}
            continue
        labels = np.array([_VERDICT_CODE[pairs[p].most_common(1)[0][0]] for p in kept], dtype=np.int64)
        difference = np.array([lengths[a] - lengths[b] for a, b in kept], dtype=float)
        if name == "jury":
            first, second = [jury[a] for a, _ in kept], [jury[b] for _, b in kept]
            verdicts = Verdicts(verdicts_from_scores(first, second, JURY_TIE),
                                verdicts_from_scores(second, first, JURY_TIE), {}, "", symmetric=True)
        else:
            verdicts = baseline_verdicts("tie" if name == "constant" else "longer", difference)
        out[criterion] = {**pairwise_figures(verdicts, labels, difference, bootstrap),
                          "unjudged": len(pairs) - len(kept)}
    return out
