"""Route each judged generation: accepted (to curation), review (to people) or rejected."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from docflywheel.records import content_id


@dataclass(frozen=True)
class RouteThresholds:
    accept: float = 0.7  # mean judge score at or above which an item may be accepted
    reject: float = 0.3  # below this it is hopeless
    max_spread: float = 0.35  # judges further apart than this (standard deviation) send it to review


def decide(generation_id: str, verdicts: Sequence[Mapping[str, Any]], thresholds: RouteThresholds,
           iteration: int | None = None, labels: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The route row for one generation from its judgments; a person's label, where there is one, decides."""
    labelled = [float(l["score"]) for l in labels if l.get("status") == "labelled" and l.get("score") is not None]
    if labelled:
        mean = (statistics.fmean(labelled) - 1) / 4  # 1-5 scale onto 0-1, like the judges
        key = content_id("route", generation_id, sorted(str(l["id"]) for l in labels))
        return {"id": key, "generation_id": generation_id, "decision": "accepted" if mean >= 0.5 else "rejected",
                "score": mean, "spread": statistics.pstdev(labelled) / 4 if len(labelled) > 1 else 0.0,
                "reason": f"labelled by a person ({len(labelled)} label(s), mean {mean:.2f})", "iteration": iteration}
    scores = [float(v["score"]) for v in verdicts if v.get("score") is not None and v.get("status", "ok") == "ok"]
    if not scores:
        decision, mean, spread, reason = "review", None, None, "no judge could score it"
    else:
        mean = statistics.fmean(scores)
        spread = statistics.pstdev(scores) if len(scores) > 1 else 0.0
        if mean < thresholds.reject:
            decision, reason = "rejected", f"mean score {mean:.2f} < {thresholds.reject}"
        elif spread > thresholds.max_spread:
            decision, reason = "review", f"judges disagree (spread {spread:.2f} > {thresholds.max_spread})"
        elif mean >= thresholds.accept:
            decision, reason = "accepted", f"mean score {mean:.2f}, spread {spread:.2f}"
        else:
            decision, reason = "review", f"mean score {mean:.2f} is between reject and accept"
    key = content_id("route", generation_id, sorted(str(v.get("id")) for v in verdicts), thresholds.__dict__)
    return {"id": key, "generation_id": generation_id, "decision": decision, "score": mean, "spread": spread,
            "reason": reason, "iteration": iteration}
