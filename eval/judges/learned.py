"""Learned judge: predicts human (or LLM-judge) ratings per criterion from (code, documentation).

Features need no model call beyond MiniLM embeddings: text statistics of the summary and the code,
identifier overlap between them, the code-summary embedding cosine and the summary embedding, into a ridge
regression; beside it a ridge on TF-IDF word 1-2-grams of the summary with every word that names something in
the code masked to one token (style: "This function...", "Args:", "Returns the codeident"). Their mean is the
score. The first recipe (PCA-16 of the embedding, unmasked TF-IDF) was chosen on a dev third of Crupi's Python
functions (sha1(target_id) % 3 == 0) against boosting, SVR, code-embedding and char-n-gram variants; the mask
and the full embedding were then chosen on cross-validated alpha over all of it (README: learned judge).
Each criterion gets its own pair; the mean is cut into the integer scale at thresholds that give the training
predictions the training labels' distribution (ordinal alpha punishes a judge that squeezes every item into
the middle, which rounding a regression does).
"""

from __future__ import annotations

import hashlib
import json
import keyword
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import joblib
import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from docflywheel.errors import InputError
from docflywheel.eval.judges.llm import JudgeIdentity
from docflywheel.eval.judges.reference import EMBEDDING_MODEL, cosine, embed

VERSION = "3"
MASK = "codeident"  # the one token that stands for every summary word naming something in the code
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBTOKEN = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_MASK_KEEP = set(keyword.kwlist) | {"self", "cls"}  # "return", "if": words of any summary, never masked
_CODE_WORDS = set(keyword.kwlist) | {"self", "cls", "none", "true", "false", "return", "public", "private",
                                     "static", "void", "new", "this", "int", "string", "var", "let", "const",
                                     "function", "null", "boolean", "final"}
STAT_NAMES = ("log_summary_chars", "log_summary_words", "summary_lines", "sentences", "log_code_lines",
              "log_code_tokens", "log_words_per_code_token", "type_token_ratio", "mean_word_length",
              "markdown_lines", "backticks", "code_like_lines", "section_words", "non_ascii", "digits",
              "question_or_first_person", "code_recall", "summary_precision", "name_mentioned",
              "params_mentioned", "cosine_code_summary")


class CodeDoc(Protocol):
    """Anything with the code and its documentation (a CrupiItem, a task with a generation)."""

    @property
    def code(self) -> str: ...

    @property
    def summary(self) -> str: ...


@dataclass(frozen=True)
class CrossValidated:
    """Out-of-fold predictions: every item scored by a model fitted without it (nor its group)."""

    predictions: dict[str, NDArray[np.int64]]
    folds: NDArray[np.int64]  # fold index of each item: the model of fold k never saw items with folds == k
    groups: NDArray[Any]
    description: str


@dataclass(frozen=True)
class Features:
    """Per item: STAT_NAMES columns then the 384-dim summary embedding, and the masked summary for TF-IDF."""

    numeric: NDArray[np.float64]
    masked: NDArray[np.str_]

    def __len__(self) -> int:
        return len(self.masked)

    def __getitem__(self, index: Any) -> Features:
        return Features(self.numeric[index], self.masked[index])


def features(items: Sequence[CodeDoc]) -> Features:
    """Features of each (code, summary); the embeddings are the slow part, so compute once and index."""
    codes, summaries = [i.code for i in items], [i.summary for i in items]
    stats = np.array([_text_stats(c, s) for c, s in zip(codes, summaries, strict=True)], dtype=np.float64)
    cos = cosine(codes, summaries)[:, None] if items else np.zeros((0, 1))
    numeric = np.hstack([stats.reshape(len(items), -1), cos, embed(summaries).astype(np.float64)])
    masked = [masked_summary(c, s) for c, s in zip(codes, summaries, strict=True)]
    return Features(numeric, np.array(masked, dtype=np.str_))


def masked_summary(code: str, summary: str) -> str:
    """The summary with each word that is an identifier of the code, or one of their subtokens, replaced by MASK.

    Cross-validation by function never shows the text model a fitted function's vocabulary again; masked, it
    learns how a summary refers to the code ("Returns the codeident of codeident") instead.
    """
    code_sub = {s.lower() for t in _IDENT.findall(code) for s in _SUBTOKEN.findall(t)} - _MASK_KEEP

    def mask(match: re.Match[str]) -> str:
        word = match.group(0)
        parts = {p.lower() for p in _SUBTOKEN.findall(word)}
        named = word.lower() in code_sub or (len(word) > 2 and bool(parts) and parts <= code_sub)
        return MASK if named else word

    return _IDENT.sub(mask, summary)


def feature_set_hash() -> str:
    spec = {"stats": STAT_NAMES, "embedding": "all-MiniLM-L6-v2", "version": VERSION,
            "text": f"tfidf word 1-2-grams, min_df 2, sublinear, code identifiers masked as {MASK}"}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def make_regressor(model: str = "ridge") -> Pipeline:
    """The per-criterion model: scaled statistics + the summary embedding, then ridge or boosting."""
    n = len(STAT_NAMES)
    # the whole embedding, not a PCA of it: RidgeCV's own leave-one-out choice of alpha does the shrinking
    columns = ColumnTransformer([("stats", StandardScaler(), slice(0, n)),
                                 ("embedding", "passthrough", slice(n, n + 384))])
    if model == "ridge":
        head: Any = RidgeCV(alphas=np.logspace(-2, 3, 12))
    elif model == "boosting":
        head = HistGradientBoostingRegressor(max_iter=150, learning_rate=0.05, max_depth=3, min_samples_leaf=20,
                                             l2_regularization=1.0, random_state=0)
    else:
        raise InputError(f"unknown learned-judge model {model!r}; use 'ridge' or 'boosting'")
    return Pipeline([("features", columns), ("model", head)])


def make_text_regressor() -> Pipeline:
    return Pipeline([("tfidf", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
                     ("model", RidgeCV(alphas=np.logspace(-1, 3, 10)))])


class LearnedJudge:
    """One regressor per criterion, fitted on any ratings: human medians or an LLM judge's scores."""

    def __init__(self, model: str = "ridge", scale: tuple[int, int] = (1, 5)) -> None:
        self.model, self.scale = model, scale
        self.regressors: dict[str, tuple[Pipeline, Pipeline]] = {}  # criterion -> (numeric, text)
        self.thresholds: dict[str, NDArray[np.float64]] = {}
        self.training_hash = ""

    @property
    def identity(self) -> JudgeIdentity:
        """prompt_hash is '<feature set hash>:<training data hash>': a refit on other labels is another judge."""
        return JudgeIdentity(kind="learned", model=f"{self.model}+tfidf on {EMBEDDING_MODEL}",
                             prompt_hash=f"{feature_set_hash()}:{self.training_hash}", version=VERSION)

    def describe(self) -> dict[str, str]:
        return {"kind": "learned", "model": self.identity.model, "version": VERSION,
                "feature_set": feature_set_hash(), "training_data": self.training_hash}

    def fit(self, items: Sequence[CodeDoc], targets: Mapping[str, Sequence[float]]) -> LearnedJudge:
        """Fit one model per criterion; targets maps criterion -> one rating per item."""
        return self.fit_features(features(items), targets, _data_hash(items, targets))

    def fit_features(self, x: Features, targets: Mapping[str, Sequence[float]],
                     training_hash: str = "") -> LearnedJudge:
        for criterion, values in targets.items():
            y = np.asarray(values, dtype=float)
            if len(y) != len(x) or not np.isfinite(y).all():
                raise InputError(f"targets for '{criterion}' need one finite rating per item; got {len(y)} "
                                 f"for {len(x)} items")
            pair = (clone(make_regressor(self.model)).fit(x.numeric, y), make_text_regressor().fit(x.masked, y))
            self.regressors[criterion] = pair
            self.thresholds[criterion] = _thresholds(_mean_prediction(pair, x), y, self.scale)
        self.training_hash = training_hash
        return self

    def predict(self, items: Sequence[CodeDoc]) -> dict[str, NDArray[np.int64]]:
        """Integer ratings on the scale, per criterion."""
        return self.predict_features(features(items))

    def predict_features(self, x: Features) -> dict[str, NDArray[np.int64]]:
        if not self.regressors:
            raise InputError("this learned judge is not fitted; call fit(items, targets) or load a saved one")
        low = self.scale[0]
        return {c: low + np.searchsorted(self.thresholds[c], _mean_prediction(pair, x), side="right")
                .astype(np.int64) for c, pair in self.regressors.items()}

    def save(self, path: str | Path) -> None:
        joblib.dump({"identity": self.describe(), "model": self.model, "scale": self.scale,
                     "regressors": self.regressors, "thresholds": self.thresholds,
                     "training_hash": self.training_hash}, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> LearnedJudge:
        try:
            state = joblib.load(Path(path))
        except (OSError, EOFError, ValueError, KeyError) as exc:
            raise InputError(f"{path}: cannot load a learned judge ({exc}); save one with LearnedJudge.save") \
                from None
        if state.get("identity", {}).get("feature_set") != feature_set_hash():
            raise InputError(f"{path}: saved with another feature set than this code's ({feature_set_hash()}); "
                             f"refit it")
        judge = cls(state["model"], tuple(state["scale"]))
        judge.regressors, judge.thresholds = state["regressors"], state["thresholds"]
        judge.training_hash = state["training_hash"]
        return judge


def cross_validate(items: Sequence[CodeDoc], targets: Mapping[str, Sequence[float]], groups: Sequence[Any],
                   *, model: str = "ridge", n_splits: int = 5, seed: int = 0, scale: tuple[int, int] = (1, 5),
                   x: Features | None = None) -> CrossValidated:
    """Out-of-fold ratings from GroupKFold: all summaries of one function fall in the same fold.

    x: precomputed `features(items)`, to score several recipes without re-embedding.
    """
    x = features(items) if x is None else x
    group_array = np.asarray(groups)
    if len(set(group_array.tolist())) < n_splits:
        raise InputError(f"cross-validation needs at least {n_splits} groups (functions); got "
                         f"{len(set(group_array.tolist()))}")
    folds = np.full(len(items), -1, dtype=np.int64)
    predictions = {c: np.zeros(len(items), dtype=np.int64) for c in targets}
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(x.numeric, groups=group_array)):
        folds[test] = k
        judge = LearnedJudge(model, scale).fit_features(x[train], {c: np.asarray(v)[train]
                                                                    for c, v in targets.items()})
        for c, p in judge.predict_features(x[test]).items():
            predictions[c][test] = p
    return CrossValidated(predictions, folds, group_array,
                          f"{n_splits}-fold GroupKFold by function (shuffled, seed {seed}), mean of {model} on "
                          f"features and ridge on masked-summary TF-IDF, feature set {feature_set_hash()}; "
                          f"every item scored by a model that never saw it")


def _mean_prediction(pair: tuple[Pipeline, Pipeline], x: Features) -> NDArray[np.float64]:
    return (pair[0].predict(x.numeric) + pair[1].predict(x.masked)) / 2


def _thresholds(predicted: NDArray[np.float64], y: NDArray[np.float64],
                scale: tuple[int, int]) -> NDArray[np.float64]:
    """Cut points between consecutive scale values, at the training labels' cumulative shares."""
    low, high = scale
    shares = [float(np.mean(y <= v)) for v in range(low, high)]
    return np.quantile(predicted, np.clip(shares, 0.0, 1.0)) + 1e-9


def _text_stats(code: str, summary: str) -> list[float]:
    words = _WORD.findall(summary)
    lower = [w.lower() for w in words]
    lines = [ln for ln in summary.splitlines() if ln.strip()]
    code_lines = [ln for ln in code.splitlines() if ln.strip()]
    code_idents = [t for t in _IDENT.findall(code) if t.lower() not in _CODE_WORDS]
    code_sub = {s.lower() for t in code_idents for s in _SUBTOKEN.findall(t)} - _CODE_WORDS
    summary_sub = {s.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", summary) for s in _SUBTOKEN.findall(w)}
    name, params = _signature(code)
    n_words = max(len(words), 1)
    return [
        math.log1p(len(summary)), math.log1p(len(words)), float(len(lines)),
        float(len(re.findall(r"[.!?](\s|$)", summary))), math.log1p(len(code_lines)),
        math.log1p(len(code_idents)), math.log((len(words) + 1) / (len(code_idents) + 1)),
        len(set(lower)) / n_words, sum(map(len, words)) / n_words,
        float(sum(ln.lstrip().startswith(("#", "*", "-", "1.")) for ln in lines)), float(summary.count("`")),
        float(sum(bool(re.search(r"[=(){};]", ln)) for ln in lines)),
        float(len(re.findall(r"\b(args|arguments|parameters|params|returns?|raises|example)\b", summary, re.I))),
        sum(ord(ch) > 127 for ch in summary) / max(len(summary), 1),
        sum(ch.isdigit() for ch in summary) / max(len(summary), 1),
        float(len(re.findall(r"\?|\b(I|I'm|me|my|sure)\b", summary))),
        len(code_sub & summary_sub) / max(len(code_sub), 1), len(code_sub & summary_sub) / max(len(summary_sub), 1),
        float(bool(name) and name.lower() in summary.lower()),
        sum(p.lower() in summary.lower() for p in params) / max(len(params), 1),
    ]


def _signature(code: str) -> tuple[str, list[str]]:
    """Function name and parameter names from the first `name(...)` in the code, in any C-like or Python syntax."""
    match = re.search(r"([A-Za-z_]\w*)\s*\(([^)]*)\)", code)
    if not match:
        return "", []
    params = [p for p in _IDENT.findall(match.group(2)) if p.lower() not in _CODE_WORDS]
    return match.group(1), params


def _data_hash(items: Sequence[CodeDoc], targets: Mapping[str, Sequence[float]]) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(item.code.encode("utf-8", "surrogatepass") + b"\0" + item.summary.encode("utf-8",
                                                                                             "surrogatepass"))
    digest.update(json.dumps({c: [float(v) for v in vs] for c, vs in sorted(targets.items())}).encode())
    return digest.hexdigest()[:16]
