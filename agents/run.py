"""Run the agents graph over stored tasks with a checkpointer, so a killed run resumes."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from docflywheel.agents.constitution import load_constitution
from docflywheel.agents.graph import NODES, AgentSettings, build_agents_graph
from docflywheel.config import Config
from docflywheel.errors import InputError
from docflywheel.models import load_backend
from docflywheel.records import Task, content_id
from docflywheel.store import Store


@dataclass(frozen=True)
class AgentsRun:
    thread_id: str
    tasks: int
    generations: int
    critiques: int
    revisions: int
    judged: int
    routes: dict[str, int]
    resumed: bool
    seconds: float


def checkpoint_path(store: Store) -> Path:
    """LangGraph's checkpoints live in SQLite beside the store (the DuckDB saver needs an old langgraph)."""
    return store.path.with_name(store.path.name + ".checkpoints.sqlite")


def run_agents(store: Store, config: Config, *, split: str = "train", max_tasks: int | None = None,
               model: str | None = None, teacher: str | None = None, samples: int = 2,
               constitution_path: Path | None = None, iteration: int | None = None,
               show_progress: bool = True, tasks: Sequence[Task] | None = None,
               critique_top: int | None = None) -> AgentsRun:
    """Walk generate -> critique -> revise -> judge -> route over up to `max_tasks` tasks of `split`.

    tasks: exactly these tasks instead (the loop hands each turn its own window of train tasks).
    critique_top: critique and revise only each task's best k samples (None: every sample).
    """
    constitution = load_constitution(constitution_path)
    if tasks is None:
        tasks = store.tasks(split=None if split == "all" else split, limit=max_tasks)
    if not tasks:
        raise InputError(f"no {split} tasks in {store.path}: add some with `docflywheel tasks add-package NAME`")
    student_spec = model or config.models.student
    settings = AgentSettings(samples=samples, generation=config.generation, thresholds=config.route,
                             iteration=iteration, seed=config.generation.seed, critique_top=critique_top)
    thread_id = content_id("agents", [t.id for t in tasks], student_spec, teacher, samples,
                           config.generation.model_dump(), constitution.model_dump(), iteration, critique_top)
    started = time.perf_counter()
    student = load_backend(student_spec, config.generation, config.models.cache_dir)
    teacher_backend = load_backend(teacher, config.generation, config.models.cache_dir) if teacher else None
    connection = sqlite3.connect(checkpoint_path(store), check_same_thread=False)
    try:
        with Progress(TextColumn("[bold]{task.description:>8}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TextColumn("{task.fields[info]}"), disable=not show_progress,
                      console=Console(stderr=True)) as progress:
            bars: dict[str, TaskID] = {node: progress.add_task(node, total=None, info="") for node in NODES}
            node_started: dict[str, float] = {}

            def report(node: str, done: int, total: int, tokens: int = 0, failed: int = 0) -> None:
                elapsed = time.perf_counter() - node_started.setdefault(node, time.perf_counter())
                speed = f"{tokens / elapsed:,.0f} tok/s, " if tokens and elapsed > 0 else ""
                progress.update(bars[node], completed=done, total=total, info=f"{speed}{failed} failed")

            graph = build_agents_graph(store, student, constitution, settings, teacher_backend, report)
            app = graph.compile(checkpointer=SqliteSaver(connection))
            run_config: dict[str, Any] = {"configurable": {"thread_id": thread_id}}
            snapshot = app.get_state(run_config)
            resumed = bool(snapshot.next)
            if snapshot.values:
                # Nodes the checkpoint already holds never report: say so instead of leaving empty bars.
                upto = NODES.index(snapshot.next[0]) if snapshot.next else NODES.index("route")
                for node in NODES[:upto]:
                    progress.update(bars[node], total=1, completed=1, info="from checkpoint")
            if snapshot.values and not snapshot.next:
                # This exact run already finished: route again from the judge's checkpoint, so labels
                # people added since are taken in; no model is called.
                app.update_state(run_config, {}, as_node="judge")
                final = app.invoke(None, run_config)
            else:
                final = app.invoke(None if resumed else {"task_ids": [t.id for t in tasks]},
                                   run_config)
    finally:
        connection.close()
        student.close()
        if teacher_backend:
            teacher_backend.close()
    return AgentsRun(thread_id=thread_id, tasks=len(tasks), generations=len(final["generation_ids"]),
                     critiques=len(final["critique_ids"]), revisions=len(final["revision_ids"]),
                     judged=final["judged"], routes=final["routes"], resumed=resumed,
                     seconds=time.perf_counter() - started)
