"""Champion and challenger: a challenger is promoted only when it is better with confidence and forgets nothing.

Better: the mean over test tasks of (challenger - champion) jury score has a paired bootstrap interval
entirely above zero. Forgets nothing: no jury member's paired mean drops by more than `tolerance`
(a catastrophic-forgetting guard). The champion of the store is the one the latest iteration names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from docflywheel.eval.agreement import Estimate
from docflywheel.eval.heldout import Evaluation, bootstrap_mean
from docflywheel.records import content_id
from docflywheel.store import Store


MIN_GUARD_TASKS = 10  # a member scored on fewer shared tasks (examples, say) is too sparse to guard on


@dataclass(frozen=True)
class Comparison:
    champion: str
    challenger: str
    tasks: int
    delta: Estimate  # challenger - champion, paired over test tasks
    regressions: dict[str, float] = field(default_factory=dict)  # member -> paired drop beyond the tolerance

    @property
    def promoted(self) -> bool:
        return self.delta.ci_low > 0 and not self.regressions


def compare(challenger: Evaluation, champion: Evaluation, *, tolerance: float = 0.25, confidence: float = 0.95,
            seed: int = 0) -> Comparison:
    """Paired comparison over the test tasks both models were scored on."""
    shared = sorted(set(challenger.scores) & set(champion.scores))
    delta = bootstrap_mean([challenger.scores[t] - champion.scores[t] for t in shared], confidence, seed)
    regressions = {}
    for member, theirs in champion.members.items():
        ours = challenger.members.get(member, {})
        both = [t for t in shared if t in theirs and t in ours]
        if len(both) >= MIN_GUARD_TASKS:
            change = float(np.mean([ours[t] - theirs[t] for t in both]))
            if change < -tolerance:
                regressions[member] = change
    return Comparison(champion=champion.model, challenger=challenger.model, tasks=len(shared), delta=delta,
                      regressions=regressions)


def current_champion(store: Store) -> str | None:
    """The model spec the latest recorded iteration left as champion, or None before the first."""
    rows = store.select("iterations", order_by="iteration DESC", limit=1)
    if not rows or rows[0]["champion_model_id"] is None:
        return None
    models = store.select("models", ids=[rows[0]["champion_model_id"]])
    return models[0]["spec"] if models else None


def model_row(spec: str, role: str, base_model: str | None = None, adapter: str | None = None,
              training_run_id: str | None = None) -> dict[str, Any]:
    """A `models` row for a spec; the id depends on the spec alone, so a model is registered once."""
    return {"id": content_id("model", spec), "spec": spec, "base_model": base_model or spec.split("#", 1)[0],
            "adapter": adapter if adapter is not None else (spec.split("#", 1)[1] if "#" in spec else None),
            "training_run_id": training_run_id, "role": role}
