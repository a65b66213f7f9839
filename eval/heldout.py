"""Held-out evaluation of a model: it documents the test tasks, the recommended jury scores what it wrote.

Samples use the same per-task seeds for every model (`docflywheel.generate.sample_seed`), so two models
are compared on common random numbers, and rows already stored for a model are reused: evaluating a
champion twice costs nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from docflywheel.config import GenerationConfig
from docflywheel.errors import InputError
from docflywheel.eval.agreement import Estimate
from docflywheel.eval.scoring import judge_generations, jury_scores
from docflywheel.generate import generate
from docflywheel.models.base import Backend
from docflywheel.records import Task
from docflywheel.store import Store


@dataclass(frozen=True)
class Evaluation:
    """Per test task, the mean jury score of a model's samples, overall and per jury member."""

    model: str
    scores: dict[str, float]
    members: dict[str, dict[str, float]]  # "judge_kind/criterion" -> task id -> mean member score
    generations: int
    unscored: int  # generations no jury member could score (failed generations are not stored at all)

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.scores.values()))) if self.scores else float("nan")

    def interval(self, confidence: float = 0.95, seed: int = 0) -> Estimate:
        """The mean score with a bootstrap interval over test tasks."""
        return bootstrap_mean(list(self.scores.values()), confidence, seed)


def bootstrap_mean(values: Sequence[float], confidence: float = 0.95, seed: int = 0) -> Estimate:
    """Mean with a percentile bootstrap interval (scipy), resampling the values."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        raise InputError(f"need at least 2 scored test tasks for an interval, got {len(data)}: add tasks "
                         f"(`docflywheel tasks add-package NAME`) or raise flywheel.test_tasks")
    if np.ptp(data) == 0:
        return Estimate(float(data[0]), float(data[0]), float(data[0]), len(data))
    result = stats.bootstrap((data,), np.mean, confidence_level=confidence, n_resamples=2000, method="percentile",
                             rng=np.random.default_rng(seed))
    return Estimate(float(data.mean()), float(result.confidence_interval.low), float(result.confidence_interval.high),
                    len(data))


def evaluate(store: Store, backend: Backend, tasks: Sequence[Task], settings: GenerationConfig, *,
             samples: int = 2, show_progress: bool = True) -> Evaluation:
    """Generate `samples` documents per test task with `backend`, judge them, and average per task."""
    if not tasks:
        raise InputError("no test tasks to evaluate on: add some with `docflywheel tasks add-package NAME`")
    leaked = [t for t in tasks if t.split != "test"]
    if leaked:
        raise InputError(f"held-out evaluation takes test tasks only; {leaked[0].qualname} is in the "
                         f"{leaked[0].split} split")
    result = generate(store, backend, tasks, samples, settings, role="evaluation", show_progress=show_progress)
    generations = store.generations(ids=list(result.ids))
    judge_generations(store, {t.id: t for t in tasks}, generations)
    scored = jury_scores(store, list(result.ids))
    per_task: dict[str, list[float]] = defaultdict(list)
    per_member: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for generation in generations:
        jury = scored.get(generation.id)
        if jury is None:
            continue
        per_task[generation.task_id].append(jury.score)
        for member, value in jury.members.items():
            per_member[member][generation.task_id].append(value)
    return Evaluation(
        model=str(backend.spec), scores={task: float(np.mean(v)) for task, v in per_task.items()},
        members={m: {task: float(np.mean(v)) for task, v in by_task.items()} for m, by_task in per_member.items()},
        generations=len(generations), unscored=len(generations) - sum(len(v) for v in per_task.values()))
