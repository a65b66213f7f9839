"""Constitutional AI, phase 1: pick a principle per generation, critique against it, then revise."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from docflywheel.agents.constitution import Constitution, Principle
from docflywheel.agents.prompts import prompt_hash, task_prompt
from docflywheel.config import GenerationConfig
from docflywheel.generate import completed_rows, in_batches, sample_seed
from docflywheel.models.base import Backend, Completion, GenerationRequest
from docflywheel.records import Generation, Task, content_id
from docflywheel.store import Store

MAX_DOC_CHARS = 800


@dataclass(frozen=True)
class PlannedCritique:
    id: str
    generation: Generation
    principle: Principle
    prompt: str


def draw_key(generation: Generation) -> str:
    """What a critique's random choices hang on: the sample itself (task, role, seed, index, turn), not the ids
    that name the model by its path, so the same run in another folder or on another machine draws the same."""
    return content_id(generation.task_id, generation.role, generation.seed, generation.sample_index,
                      generation.iteration)


def choose_principle(generation: Generation, verdicts: Sequence[Mapping[str, Any]], constitution: Constitution,
                     seed: int) -> tuple[Principle, str]:
    """The principle the worst failing verifier points to; else one sampled from the model-checked ones."""
    failing = sorted((v for v in verdicts if v["score"] is not None and v["score"] < 1.0),
                     key=lambda v: (v["score"], v["criterion"]))
    for verdict in failing:
        candidates = constitution.for_verifier(verdict["criterion"])
        if candidates:
            pick = candidates[int(content_id(seed, draw_key(generation))[:8], 16) % len(candidates)]
            return pick, str(verdict.get("rationale") or "")
    by_model = [p for p in constitution.principles if p.checked_by == "model"] or list(constitution.principles)
    return by_model[int(content_id(seed, draw_key(generation))[:8], 16) % len(by_model)], ""


def plan_critiques(tasks: Mapping[str, Task], generations: Sequence[Generation],
                   verdicts: Mapping[str, Sequence[Mapping[str, Any]]], constitution: Constitution,
                   model: str, seed: int) -> list[PlannedCritique]:
    planned = []
    for generation in generations:
        principle, evidence = choose_principle(generation, verdicts.get(generation.id, []), constitution, seed)
        prompt = task_prompt("critique", tasks[generation.task_id], documentation=_cut(generation.text),
                             principle=principle.principle, request=principle.critique, evidence=evidence)
        key = content_id("critique", generation.id, principle.id, model, prompt_hash(prompt))
        planned.append(PlannedCritique(key, generation, principle, prompt))
    return planned


def _request(prompt: str, settings: GenerationConfig, key: str) -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "user", "content": prompt}], max_new_tokens=settings.max_new_tokens,
                             temperature=settings.temperature, top_p=settings.top_p,
                             seed=sample_seed(settings.seed, key, 0))


def run_critiques(store: Store, backend: Backend, planned: Sequence[PlannedCritique], settings: GenerationConfig,
                  report: Callable[..., None]) -> list[str]:
    """Write the critiques not stored yet; an empty or failed reply is stored with its status, not dropped."""
    done = store.existing_ids("critiques", [p.id for p in planned])
    todo = [p for p in planned if p.id not in done]
    progress = {"done": 0, "tokens": 0, "failed": 0}

    def write(start: int, completions: list[Completion]) -> None:
        rows = []
        for item, completion in zip(todo[start:start + len(completions)], completions):
            status = "error" if completion.finish_reason == "error" else "empty" if not completion.text.strip() else "ok"
            rows.append({"id": item.id, "generation_id": item.generation.id, "principle_id": item.principle.id,
                         "critique": completion.text if status != "error" else completion.error or "",
                         "model": str(backend.spec), "status": status})
        store.insert("critiques", rows)
        progress["done"] += len(completions)
        progress["tokens"] += sum(c.tokens_out for c in completions)
        progress["failed"] += sum(row["status"] != "ok" for row in rows)
        report("critique", progress["done"], len(todo), progress["tokens"], progress["failed"])

    report("critique", 0, len(todo))
    in_batches(backend, [_request(p.prompt, settings, content_id("critique", draw_key(p.generation), p.principle.id))
                                 for p in todo], settings.batch_size, write)
    return [p.id for p in planned]


def run_revisions(store: Store, backend: Backend, tasks: Mapping[str, Task], critique_ids: Sequence[str],
                  constitution: Constitution, settings: GenerationConfig, iteration: int | None,
                  report: Callable[..., None]) -> list[str]:
    """Revise each generation in the light of its critique; the revision links to its parent and critique."""
    critiques = [c for c in store.critiques(critique_ids) if c["status"] == "ok"]
    parents = {g.id: g for g in store.generations(ids=[c["generation_id"] for c in critiques])}
    planned: list[tuple[Generation, GenerationRequest]] = []
    for critique in critiques:
        parent = parents[critique["generation_id"]]
        principle = constitution.get(critique["principle_id"])
        prompt = task_prompt("revise", tasks[parent.task_id], documentation=_cut(parent.text),
                             critique=_cut(critique["critique"]), request=principle.revision)
        request = _request(prompt, settings, content_id("revise", draw_key(parent), principle.id))
        shell = Generation(task_id=parent.task_id, text="", model=str(backend.spec), role="revision",
                           prompt_hash=prompt_hash(prompt), sampling=request.sampling(), seed=request.seed,
                           parent_id=parent.id, critique_id=critique["id"], iteration=iteration)
        planned.append((shell, request))
    done = store.existing_ids("generations", [shell.id for shell, _ in planned])  # type: ignore[misc]
    todo = [(shell, request) for shell, request in planned if shell.id not in done]
    progress = {"done": 0, "tokens": 0, "failed": 0}

    def write(start: int, completions: list[Completion]) -> None:
        rows, failed = completed_rows([shell for shell, _ in todo[start:start + len(completions)]], completions)
        store.add_generations(rows)
        progress["done"] += len(completions)
        progress["tokens"] += sum(row.tokens_out or 0 for row in rows)
        progress["failed"] += failed
        report("revise", progress["done"], len(todo), progress["tokens"], progress["failed"])

    report("revise", 0, len(todo))
    in_batches(backend, [request for _, request in todo], settings.batch_size, write)
    stored = store.existing_ids("generations", [shell.id for shell, _ in planned])  # type: ignore[misc]
    return [shell.id for shell, _ in planned if shell.id in stored]  # type: ignore[misc]


def _cut(text: str) -> str:
    return text if len(text) <= MAX_DOC_CHARS else text[:MAX_DOC_CHARS] + " ..."
