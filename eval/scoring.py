"""One score per generation from the recommended jury (eval/jury.yaml), and the judging that feeds it.

The loop needs a single number to curate, route and promote by. It is the weighted mean of the stored
judgments the jury file names, on the 1-5 scale, with the weighted spread of the members as the jury's
disagreement. Judges that need no model (verifiers, reference similarity) make it, so it is cheap,
deterministic and available offline; any other judge can join by adding a line to the jury file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from docflywheel.eval.judges import verifier_judge
from docflywheel.eval.judges.reference import ReferenceJudge, reference_similarity
from docflywheel.records import Generation, Task, content_id
from docflywheel.store import Store
from docflywheel.yamlfile import read_mapping, validate_items

SCALE = (1.0, 5.0)
VERIFIER_THREADS = 4


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid")

    judge_kind: str
    criterion: str
    weight: float = Field(gt=0)

    @property
    def id(self) -> str:
        return f"{self.judge_kind}/{self.criterion}"


class Jury(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    review_spread: float = Field(1.5, gt=0)
    members: list[Member] = Field(min_length=1)


@dataclass(frozen=True)
class JuryScore:
    """A generation's jury score (1-5), its members' scores on the same scale, and their spread."""

    score: float
    members: dict[str, float] = field(default_factory=dict)
    spread: float = 0.0

    @property
    def judge_kinds(self) -> set[str]:
        return {name.split("/", 1)[0] for name in self.members}


def default_jury_path() -> Path:
    return Path(__file__).with_name("jury.yaml")


def load_jury(path: Path | None = None) -> Jury:
    """The jury file, validated; errors name the member and field."""
    path = path or default_jury_path()
    return validate_items(path, read_mapping(path, "jury file", "'members'"), Jury, "members", "member")


def on_scale(row: Mapping[str, Any]) -> float | None:
    """A stored judgment's score on the 1-5 scale (verifiers store 0-1)."""
    if row.get("status", "ok") != "ok" or row.get("score") is None:
        return None
    value = float(row["score"])
    return SCALE[0] + value * (SCALE[1] - SCALE[0]) if row["judge_kind"] == "verifier" else value


def combine(rows: Sequence[Mapping[str, Any]], jury: Jury) -> JuryScore | None:
    """The jury score from one generation's judgment rows, or None when no member judged it."""
    weights = {m.id: m.weight for m in jury.members}
    members: dict[str, float] = {}
    for row in rows:
        name, value = f"{row['judge_kind']}/{row['criterion']}", on_scale(row)
        if name in weights and value is not None and math.isfinite(value):
            members[name] = value
    if not members:
        return None
    values = np.array(list(members.values()))
    w = np.array([weights[name] for name in members])
    mean = float(np.average(values, weights=w))
    spread = float(np.sqrt(np.average((values - mean) ** 2, weights=w)))
    return JuryScore(score=mean, members=members, spread=spread)


def jury_scores(store: Store, generation_ids: Sequence[str], jury: Jury | None = None) -> dict[str, JuryScore]:
    """Jury scores of the generations that have at least one member's judgment."""
    jury = jury or load_jury()
    judged = store.judgments_for(generation_ids)
    scores = {gid: combine(rows, jury) for gid, rows in judged.items()}
    return {gid: score for gid, score in scores.items() if score is not None}


REFERENCE = ReferenceJudge.identity


def reference_rows(tasks: Mapping[str, Task], generations: Sequence[Generation],
                   iteration: int | None = None) -> list[dict[str, Any]]:
    """Reference-similarity judgments (1-5, unrounded) for generations whose task has a human reference."""
    items = [(g, tasks[g.task_id].reference) for g in generations if tasks[g.task_id].reference]
    if not items:
        return []
    similarity = reference_similarity([g.text for g, _ in items], [ref for _, ref in items])  # type: ignore[misc]
    rows = []
    for (generation, _), cos, rouge in zip(items, similarity.cosine, similarity.rouge_l, strict=True):
        combined = float(np.clip((cos + rouge) / 2, 0.0, 1.0))
        rows.append({
            "id": content_id("judgment", generation.id, REFERENCE.kind, "similarity", REFERENCE.version),
            "generation_id": generation.id, "judge_kind": REFERENCE.kind, "judge_model": REFERENCE.model,
            "judge_prompt_hash": REFERENCE.prompt_hash, "judge_version": REFERENCE.version,
            "criterion": "similarity", "score": SCALE[0] + combined * (SCALE[1] - SCALE[0]),
            "rationale": f"embedding cosine {cos:.2f}, ROUGE-L F1 {rouge:.2f} against the human docstring",
            "evidence": {"cosine": float(cos), "rouge_l": float(rouge)}, "status": "ok", "iteration": iteration,
        })
    return rows


def judge_generations(store: Store, tasks: Mapping[str, Task], generations: Sequence[Generation],
                      iteration: int | None = None, progress: Callable[[int, int], None] | None = None) -> None:
    """Reference and verifier judgments for generations that have none stored yet, written as they are made.

    The verifiers mostly wait on sandboxed example runs (a fresh process each), so several run at once.
    """
    ids = [g.id for g in generations]
    referenced = store.judged_ids(ids, judge_kind=REFERENCE.kind)
    store.insert("judgments", reference_rows(tasks, [g for g in generations if g.id not in referenced], iteration))
    done = store.judged_ids(ids, judge_kind=verifier_judge.JUDGE_KIND)
    todo = [g for g in generations if g.id not in done]
    batch: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=VERIFIER_THREADS, thread_name_prefix="verify") as pool:
        judged = pool.map(lambda g: _verify(tasks[g.task_id], g, iteration), todo)
        for index, rows in enumerate(judged, 1):
            batch += rows
            if len(batch) >= 64 or index == len(todo):
                store.insert("judgments", batch)
                batch = []
            if progress:
                progress(index, len(todo))


def _verify(task: Task, generation: Generation, iteration: int | None) -> list[dict[str, Any]]:
    """The verifier judgments, or one failed judgment holding the error: model text never stops a run."""
    try:
        return verifier_judge.judge(task, generation, iteration)
    except Exception as error:  # a verifier tripping over text no one foresaw is recorded and counted
        return [{"id": verifier_judge.judgment_id(generation.id, "error"), "generation_id": generation.id,
                 "judge_kind": verifier_judge.JUDGE_KIND, "judge_version": verifier_judge.verifiers.VERSION,
                 "criterion": "error", "score": None, "status": "failed", "iteration": iteration,
                 "rationale": f"{type(error).__name__}: {error}"[:500], "raw": generation.text[:2000]}]
