"""Write documentation for stored tasks with any backend, batch by batch, resumably."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from docflywheel.agents.prompts import document_prompt, prompt_hash
from docflywheel.config import GenerationConfig
from docflywheel.models.base import Backend, Completion, GenerationRequest
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
    ids: tuple[str, ...] = ()  # the planned generations now stored, in plan order (failed ones left out)

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


def in_batches(backend: Backend, requests: Sequence[GenerationRequest], batch_size: int,
               write: Callable[[int, list[Completion]], None]) -> None:
    """Send `requests` in chunks of `batch_size`; `write(start, completions)` stores each chunk at once."""
    for start in range(0, len(requests), batch_size):
        write(start, backend.generate(requests[start:start + batch_size]))


def generate(store: Store, backend: Backend, tasks: Sequence[Task], n: int, settings: GenerationConfig,
             role: str = "student", iteration: int | None = None, show_progress: bool = True) -> GenerateResult:
    """Generate `n` samples per task and store them; samples already stored are skipped."""
    planned = plan(tasks, str(backend.spec), n, settings, role, iteration)
    done = store.existing_ids("generations", [shell.id for shell, _ in planned])  # type: ignore[misc]
    todo = [(shell, request) for shell, request in planned if shell.id not in done]
    counts = {"written": 0, "failed": 0, "tokens": 0}
    started = time.perf_counter()
    with Progress(TextColumn("[bold]generate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[speed]}"), disable=not show_progress,
                  console=Console(stderr=True)) as progress:
        bar = progress.add_task("generate", total=len(todo), speed="")

        def write(start: int, completions: list[Completion]) -> None:
            rows, failed = completed_rows([shell for shell, _ in todo[start:start + len(completions)]], completions)
            counts["written"] += store.add_generations(rows)
            counts["failed"] += failed
            counts["tokens"] += sum(row.tokens_out or 0 for row in rows)
            elapsed = time.perf_counter() - started
            progress.update(bar, advance=len(completions),
                            speed=f"{counts['tokens'] / elapsed:,.0f} tok/s, {counts['failed']} failed")

        in_batches(backend, [request for _, request in todo], settings.batch_size, write)
    planned_ids = [shell.id for shell, _ in planned]
    stored = store.existing_ids("generations", planned_ids)
    return GenerateResult(requested=len(planned), written=counts["written"], skipped=len(planned) - len(todo),
                          failed=counts["failed"], tokens_out=counts["tokens"], seconds=time.perf_counter() - started,
                          ids=tuple(i for i in planned_ids if i in stored))


def completed_rows(shells: Sequence[Generation], completions: Sequence[Completion]) -> tuple[list[Generation], int]:
    """The generations to store for finished completions, and how many failed (those are retried next run)."""
    rows = [shell.model_copy(update={"text": c.text, "tokens_in": c.tokens_in, "tokens_out": c.tokens_out,
                                     "latency_s": c.latency_s, "finish_reason": c.finish_reason})
            for shell, c in zip(shells, completions) if c.finish_reason != "error"]
    return rows, len(completions) - len(rows)
