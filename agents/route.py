"""Route each judged generation: accepted (to curation), review (to people) or rejected."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from docflywheel.config import RouteConfig
from docflywheel.eval.scoring import JuryScore
from docflywheel.records import content_id


def decide(generation_id: str, jury: JuryScore | None, thresholds: RouteConfig, iteration: int | None = None,
           labels: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The route row for one generation from its jury score; a person's label, where there is one, decides."""
    labelled = [float(l["score"]) for l in labels if l.get("status") == "labelled" and l.get("score") is not None]
    if labelled:
        mean = statistics.fmean(labelled)
        key = content_id("route", generation_id, sorted(str(l["id"]) for l in labels))
        return {"id": key, "generation_id": generation_id, "decision": "accepted" if mean >= 3 else "rejected",
                "score": mean, "spread": statistics.pstdev(labelled) if len(labelled) > 1 else 0.0,
                "reason": f"labelled by a person ({len(labelled)} label(s), mean {mean:.2f})", "iteration": iteration}
    if jury is None:
        decision, mean, spread, reason = "review", None, None, "no judge could score it"
    else:
        mean, spread = jury.score, jury.spread
        if mean < thresholds.reject:
            decision, reason = "rejected", f"jury score {mean:.2f} < {thresholds.reject}"
        elif spread > thresholds.max_spread:
            decision, reason = "review", f"judges disagree (spread {spread:.2f} > {thresholds.max_spread})"
        elif mean >= thresholds.accept:
            decision, reason = "accepted", f"jury score {mean:.2f}, spread {spread:.2f}"
        else:
            decision, reason = "review", f"jury score {mean:.2f} is between reject and accept"
    # Rounded: reference similarity moves in the 7th digit with the batch a text was embedded in, and a rerun
    # after a kill must find the same route id.
    members = sorted((name, round(score, 4)) for name, score in jury.members.items()) if jury else []
    key = content_id("route", generation_id, members, thresholds.model_dump())
    return {"id": key, "generation_id": generation_id, "decision": decision, "score": mean, "spread": spread,
            "reason": reason, "iteration": iteration}
