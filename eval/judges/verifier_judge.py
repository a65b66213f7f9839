"""The verifiers as a judge: one stored judgment per verifier per generation, no model needed."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from docflywheel.eval.judges import verifiers
from docflywheel.eval.judges.verifiers import PythonTarget, VerifierScore
from docflywheel.records import Generation, Task, content_id

JUDGE_KIND = "verifier"


def target_for(task: Task) -> PythonTarget:
    """The verifiers' view of a task: the importable module part of its qualname and the rest."""
    parts = task.qualname.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            return PythonTarget(qualname=".".join(parts[cut:]), source=task.code, module=module)
    return PythonTarget(qualname=parts[-1], source=task.code, module=None)


def judgment_id(generation_id: str, criterion: str) -> str:
    return content_id("judgment", generation_id, JUDGE_KIND, criterion, verifiers.VERSION)


def judge(task: Task, generation: Generation, iteration: int | None = None) -> list[dict[str, Any]]:
    """Judgment rows for every verifier that applies to this generation (None-valued ones are skipped)."""
    if task.language != "python" or task.kind != "function":
        scores: Sequence[VerifierScore] = [verifiers.check_code_blocks(generation.text),
                                           verifiers.check_length(generation.text)]
    else:
        scores = verifiers.verify(generation.text, target_for(task))
    return [{
        "id": judgment_id(generation.id, score.verifier),  # type: ignore[arg-type]
        "generation_id": generation.id, "judge_kind": JUDGE_KIND, "judge_model": None,
        "judge_prompt_hash": None, "judge_version": verifiers.VERSION, "criterion": score.verifier,
        "score": float(score.value), "rationale": score.explanation, "evidence": score.evidence,
        "status": "ok", "iteration": iteration,
    } for score in scores if score.value is not None]
