"""Pairwise judge-human agreement on Auto-J and HH-RLHF: what `docflywheel agreement --format autoj|hh-rlhf` prints.

Every judge here runs offline on CPU, without a language model:
- "learned" (the default): a logistic regression on each response's relevance to the prompt (MiniLM cosine),
  length, lines, list items, code fences and share of the prompt's words, scored out of fold (stratified
  k-fold). It is fitted on each training pair in both orders, but its features keep the order shown, so
  its position consistency is measured (both orders judged by the same fit), not true by construction.
- "relevance": the response whose embedding is closer to the prompt's wins; a tie within TIE_MARGIN.
  Nothing fitted; symmetric in the two responses, so it is position-consistent by construction.
- "longer": the longer response wins (a baseline: people favour longer answers on Auto-J).
- "tie": always a tie (a floor: its accuracy with ties is the share of tied labels).

Auto-J (Li et al. 2023) labels 0 = response 1 better, 1 = response 2, 2 = tie; its README reports GPT-4 at
62.28% agreement with ties. HH-RLHF (Bai et al. 2022) has chosen / rejected and no ties: each pair is shown in
a seeded random order, so accuracy is the share of pairs where the judge prefers the chosen reply.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from docflywheel.errors import InputError
from docflywheel.eval.agreement import (FIRST, SECOND, TIE, Bootstrap, pairwise_accuracy, pairwise_agreement,
                                       swap_verdict)
from docflywheel.eval.human_data import load_autoj, load_hh_rlhf
from docflywheel.eval.judges.reference import EMBEDDING_MODEL, cosine

PAIRWISE_FORMATS = ("autoj", "hh-rlhf")
PAIRWISE_JUDGES = ("default", "learned", "relevance", "longer", "tie")
DEFAULT_PAIRWISE_JUDGE = "learned"
TIE_MARGIN = 0.05  # cosine points: set a priori, not tuned on the labels
VERSION = "2"
_HUMAN_TURN = "\n\nHuman:"
_CHUNK = 256  # texts embedded per progress step
_WORD = re.compile(r"[a-z0-9]{3,}")
_LIST_ITEM = re.compile(r"\s*(?:[-*+]|\d+[.)])\s")
STAT_COUNT = 5
_LEARNED_RECIPE = ("logreg(cosine, log chars, log lines, log list items, code fences, prompt-word recall; "
                   "a, b, a-b, |a-b|)")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PairSet:
    """Pairs as shown to the judge: a prompt, the first and second response, and the human verdict (0/1/2)."""

    prompts: list[str]
    firsts: list[str]
    seconds: list[str]
    labels: NDArray[np.int64]

    @property
    def length_difference(self) -> NDArray[np.float64]:
        """len(first) - len(second) in characters."""
        return np.array([len(a) - len(b) for a, b in zip(self.firsts, self.seconds, strict=True)], dtype=float)


@dataclass(frozen=True)
class Verdicts:
    """A judge's verdicts on the pairs as shown and on the swapped order (in the swapped order's own terms)."""

    shown: NDArray[np.int64]
    swapped: NDArray[np.int64]
    identity: dict[str, str]
    fitted: str
    symmetric: bool  # the judge cannot tell the order: position consistency is 1 by construction


def load_pairs(path: str | Path, fmt: str, *, limit: int | None = None, seed: int = 0) -> PairSet:
    """The first `limit` pairs of an Auto-J jsonl or an HH-RLHF jsonl.gz (or folder), in the order to show."""
    if fmt == "autoj":
        items = load_autoj(path)[:limit]
        return PairSet([i.prompt for i in items], [i.response_1 for i in items], [i.response_2 for i in items],
                       np.array([i.label for i in items], dtype=np.int64))
    if fmt == "hh-rlhf":
        hh = load_hh_rlhf(path)[:limit]
        chosen_first = np.random.default_rng(seed).integers(0, 2, len(hh)).astype(bool)
        pairs = [(i.chosen_reply, i.rejected_reply) if c else (i.rejected_reply, i.chosen_reply)
                 for i, c in zip(hh, chosen_first, strict=True)]
        # the reply answers the last human turn; earlier turns would be cut off by MiniLM's 256 word pieces
        prompts = [i.prompt[i.prompt.rfind(_HUMAN_TURN) + len(_HUMAN_TURN):].strip() for i in hh]
        return PairSet(prompts, [a for a, _ in pairs], [b for _, b in pairs],
                       np.where(chosen_first, FIRST, SECOND).astype(np.int64))
    raise InputError(f"unknown pairwise format {fmt!r}; use one of {', '.join(PAIRWISE_FORMATS)}")


def pairwise_report(path: str | Path, fmt: str, judge: str = "default", *, limit: int | None = None,
                    n_splits: int = 5, seed: int = 0, bootstrap: Bootstrap = Bootstrap(),
                    progress: Progress | None = None) -> dict[str, Any]:
    """Accuracy with and without ties, position consistency and length bias of one judge, with 95% intervals.

    limit: judge only the first N pairs of the file. progress: called with (texts embedded, texts to embed).
    """
    if judge not in PAIRWISE_JUDGES:
        raise InputError(f"unknown judge {judge!r} for {fmt}; use one of {', '.join(PAIRWISE_JUDGES)}")
    started = time.perf_counter()
    name = DEFAULT_PAIRWISE_JUDGE if judge == "default" else judge
    pairs = load_pairs(path, fmt, limit=limit, seed=seed)
    if len(pairs.labels) < 2:
        raise InputError(f"{path}: {len(pairs.labels)} pair(s) read; agreement needs at least 2 (raise --limit)")
    if name == "learned":
        verdicts = learned_verdicts(pairs, n_splits=n_splits, seed=seed, progress=progress)
    elif name == "relevance":
        verdicts = relevance_verdicts(pairs, progress=progress)
    else:
        verdicts = baseline_verdicts(name, pairs.length_difference)
    figures = pairwise_figures(verdicts, pairs.labels, pairs.length_difference, bootstrap)
    baselines = {b: {k: json_ready(asdict(pairwise_accuracy(baseline_verdicts(b, pairs.length_difference).shown,
                                                        pairs.labels, ties=t, bootstrap=bootstrap)))
                     for k, t in (("accuracy", True), ("accuracy_without_ties", False))}
                 for b in ("longer", "tie")}
    return {"file": str(path), "format": fmt, "kind": "pairwise", "judge": name, "identity": verdicts.identity,
            "fitted": verdicts.fitted, "n_items": len(pairs.labels),
            "limit": f"first {limit} pairs of the file" if limit is not None else None,
            "order": "as in the file" if fmt == "autoj" else f"chosen first or second at random (seed {seed})",
            "bootstrap": asdict(bootstrap), "pairwise": {"overall": figures}, "baselines": baselines,
            "seconds": round(time.perf_counter() - started, 1)}


def pairwise_figures(verdicts: Verdicts, labels: NDArray[np.int64], length_difference: NDArray[np.float64],
                     bootstrap: Bootstrap) -> dict[str, Any]:
    """The figures of one judge on one criterion, JSON-ready.

    human_length_bias: the length bias of the labels themselves, the baseline to read the judge's against.
    """
    result = pairwise_agreement(verdicts.shown, labels, swapped_verdicts=verdicts.swapped,
                                length_difference=length_difference, bootstrap=bootstrap)
    human = pairwise_agreement(labels, labels, length_difference=length_difference, bootstrap=bootstrap)
    return {**json_ready(asdict(result)), "human_length_bias": json_ready(asdict(human.length_bias)),
            "symmetric_judge": verdicts.symmetric, "n": int(len(labels)),
            "judge_ties": round(float(np.mean(verdicts.shown == TIE)), 4),
            "human_ties": round(float(np.mean(labels == TIE)), 4)}


def relevance_features(pairs: PairSet, progress: Progress | None = None) -> tuple[NDArray, NDArray]:
    """MiniLM cosine of the prompt with the first and with the second response."""
    n = len(pairs.prompts)
    total, done = 3 * n, 0
    first, second = np.zeros(n), np.zeros(n)
    for start in range(0, n, _CHUNK):
        chunk = slice(start, start + _CHUNK)
        first[chunk] = cosine(pairs.prompts[chunk], pairs.firsts[chunk])
        second[chunk] = cosine(pairs.prompts[chunk], pairs.seconds[chunk])
        done += 3 * len(pairs.prompts[chunk])
        if progress:
            progress(done, total)
    return first, second


def relevance_verdicts(pairs: PairSet, *, margin: float = TIE_MARGIN, progress: Progress | None = None) -> Verdicts:
    """The response closer to the prompt wins; within `margin` it is a tie."""
    first, second = relevance_features(pairs, progress)
    identity = {"kind": "relevance", "model": EMBEDDING_MODEL, "version": VERSION,
                "prompt_hash": _recipe_hash(f"cosine(prompt, response), tie within {margin}")}
    return Verdicts(_by_margin(first - second, margin), _by_margin(second - first, margin), identity,
                    f"not fitted: cosine difference, tie within {margin}", symmetric=True)


def learned_verdicts(pairs: PairSet, *, n_splits: int = 5, seed: int = 0,
                     progress: Progress | None = None) -> Verdicts:
    """Out-of-fold verdicts of a logistic regression on relevance and length, for both orders."""
    first, second = relevance_features(pairs, progress)
    stats_1 = np.column_stack([first, _text_stats(pairs.prompts, pairs.firsts)])
    stats_2 = np.column_stack([second, _text_stats(pairs.prompts, pairs.seconds)])
    shown, swapped = _features(stats_1, stats_2), _features(stats_2, stats_1)
    counts = np.bincount(pairs.labels, minlength=3)
    folds = min(n_splits, int(counts[counts > 0].min()))
    if folds < 2 or np.count_nonzero(counts) < 2:
        raise InputError(f"the learned judge needs at least 2 pairs of each of 2 verdicts for cross-validation; "
                         f"got {counts.tolist()} (first, second, tie): raise --limit or use --judge relevance")
    out_shown, out_swapped = np.empty(len(pairs.labels), np.int64), np.empty(len(pairs.labels), np.int64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(shown, pairs.labels):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        # each training pair in both orders: the fit learns no favourite position (on Auto-J, trained on the
        # file's order alone, it kept 69% of its verdicts through the swap and lost 3 points of accuracy)
        model.fit(np.vstack([shown[train], swapped[train]]),
                  np.concatenate([pairs.labels[train], swap_verdict(pairs.labels[train])]))
        out_shown[test], out_swapped[test] = model.predict(shown[test]), model.predict(swapped[test])
    identity = {"kind": "pairwise-learned", "model": EMBEDDING_MODEL, "version": VERSION,
                "prompt_hash": _recipe_hash(_LEARNED_RECIPE),
                "training_data": f"out of fold, {folds} fits"}
    return Verdicts(out_shown, out_swapped, identity,
                    f"out of fold: {folds}-fold StratifiedKFold (seed {seed}), a logistic regression per fold "
                    f"fitted on the other folds' pairs, each in both orders", symmetric=False)


def baseline_verdicts(name: str, length_difference: NDArray[np.float64]) -> Verdicts:
    """"longer" (the longer response wins, equal lengths tie) or "tie" (always a tie)."""
    identity = {"kind": name, "model": "", "version": VERSION, "prompt_hash": ""}
    if name == "longer":
        return Verdicts(_by_margin(length_difference, 0.0), _by_margin(-length_difference, 0.0), identity,
                        "not fitted: the longer response wins", symmetric=True)
    if name == "tie":
        ties = np.full(len(length_difference), TIE, dtype=np.int64)
        return Verdicts(ties, ties, identity, "not fitted: always a tie", symmetric=True)
    raise InputError(f"unknown baseline judge {name!r}; use longer or tie")


def verdicts_from_scores(score_first: Sequence[float], score_second: Sequence[float],
                         margin: float) -> NDArray[np.int64]:
    """First (0) when its score is higher by more than `margin`, second (1) when lower, else tie (2)."""
    return _by_margin(np.asarray(score_first, dtype=float) - np.asarray(score_second, dtype=float), margin)


def _by_margin(difference: NDArray[np.float64], margin: float) -> NDArray[np.int64]:
    return np.select([difference > margin, difference < -margin], [FIRST, SECOND], TIE).astype(np.int64)


def _text_stats(prompts: Sequence[str], responses: Sequence[str]) -> NDArray[np.float64]:
    """Per response: log characters, log lines, log list items, code fences, share of the prompt's words it uses."""
    rows = []
    for prompt, text in zip(prompts, responses, strict=True):
        lines = text.splitlines()
        asked = set(_WORD.findall(prompt.lower()))
        rows.append([math.log1p(len(text)), math.log1p(len(lines)),
                     math.log1p(sum(bool(_LIST_ITEM.match(line)) for line in lines)), text.count("```") // 2,
                     len(asked & set(_WORD.findall(text.lower()))) / len(asked) if asked else 0.0])
    return np.array(rows, dtype=np.float64).reshape(len(rows), STAT_COUNT)


def _features(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Both responses' statistics in the order shown, their difference and its size."""
    return np.column_stack([a, b, a - b, np.abs(a - b)])


def _recipe_hash(recipe: str) -> str:
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def json_ready(value: Any) -> Any:
    """A dict of figures with NaN and infinities as None, so `json.dumps` writes valid JSON."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
