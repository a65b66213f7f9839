"""Write documentation for stored tasks with any backend, batch by batch, resumably."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from docflywheel.agents.prompts import document_prompt, prompt_hash
from docflywheel.config import GenerationConfig
from docflywheel.models.base import Backend, GenerationRequest
from docflywheel.records import Generation, Task, content_id
from docflywheel.store import Store


@dataclass(frozen=True)
class GenerateResult:
    requested: int
    written: int
    skipped: int
    failed: int
    tokens_out: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_out / self.seconds if self.seconds else 0.0


def sample_seed(base_seed: int, task_id: str, sample_index: int) -> int:
    """A per-sample seed that does not depend on batching or order."""
    return int(content_id(base_seed, task_id, sample_index)[:8], 16)


def plan(tasks: Sequence[Task], model: str, n: int, settings: GenerationConfig,
         role: str = "student", iteration: int | None = None) -> list[tuple[Generation, GenerationRequest]]:
    """The generations a run will write (with their ids known up front) and the requests behind them."""
    planned = []
    for task in tasks:
        prompt = document_prompt(task)
        for index in range(n):
            seed = sample_seed(settings.seed, task.id, index)  # type: ignore[arg-type]
            request = GenerationRequest(
                messages=[{"role": "user", "content": prompt}], max_new_tokens=settings.max_new_tokens,
                temperature=settings.temperature, top_p=settings.top_p, seed=seed)
            shell = Generation(task_id=task.id, text="", model=model, role=role,  # type: ignore[arg-type]
                               prompt_hash=prompt_hash(prompt), sampling=request.sampling(), seed=seed,
                               sample_index=index, iteration=iteration)
            planned.append((shell, request))
    return planned


def generate(store: Store, backend: Backend, tasks: Sequence[Task], n: int, settings: GenerationConfig,
             role: str = "student", iteration: int | None = None, show_progress: bool = True) -> GenerateResult:
    """Generate `n` samples per task and store them; samples already stored are skipped."""
    model = str(backend.spec)
    planned = plan(tasks, model, n, settings, role, iteration)
    done = store.existing_ids("generations", [shell.id for shell, _ in planned])  # type: ignore[misc]
    todo = [(shell, request) for shell, request in planned if shell.id not in done]
    written = failed = tokens = 0
    started = time.perf_counter()
    with Progress(TextColumn("[bold]generate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[speed]}"), disable=not show_progress) as progress:
        bar = progress.add_task("generate", total=len(todo), speed="")
        for start in range(0, len(todo), settings.batch_size):
            chunk = todo[start:start + settings.batch_size]
            completions = backend.generate([request for _, request in chunk])
            rows = []
            for (shell, _), completion in zip(chunk, completions):
                if completion.finish_reason == "error":
                    failed += 1
                    continue
                rows.append(shell.model_copy(update={
                    "text": completion.text, "tokens_in": completion.tokens_in,
                    "tokens_out": completion.tokens_out, "latency_s": completion.latency_s,
                    "finish_reason": completion.finish_reason}))
                tokens += completion.tokens_out
            written += store.add_generations(rows)
            elapsed = time.perf_counter() - started
            progress.update(bar, advance=len(chunk), speed=f"{tokens / elapsed:,.0f} tok/s, {failed} failed")
    return GenerateResult(requested=len(planned), written=written, skipped=len(planned) - len(todo),
                          failed=failed, tokens_out=tokens, seconds=time.perf_counter() - started)
