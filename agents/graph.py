"""The LangGraph loop over a batch of tasks: generate -> critique -> revise -> judge -> route.

Each node works on every task of the run at once so that the model backend sees whole batches, writes
its rows to the store before returning, and skips rows already stored: a killed run resumes with no
lost and no repeated model calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph

from docflywheel.agents import critique as constitutional
from docflywheel.agents.constitution import Constitution
from docflywheel.agents.route import decide
from docflywheel.config import GenerationConfig, RouteConfig
from docflywheel.eval.judges import verifier_judge
from docflywheel.eval.scoring import JuryScore, judge_generations, jury_scores
from docflywheel.generate import generate
from docflywheel.models.base import Backend
from docflywheel.records import Generation, Task
from docflywheel.store import Store

Progress = Callable[..., None]  # (node, done, total, tokens=0, failed=0), counts so far in the node
NODES = ("generate", "verify", "critique", "revise", "judge", "route")


class AgentState(TypedDict, total=False):
    """What flows between nodes: ids only; the rows themselves live in the store."""

    task_ids: list[str]
    generation_ids: list[str]
    critique_ids: list[str]
    revision_ids: list[str]
    judged: int
    routes: dict[str, int]


@dataclass
class AgentSettings:
    samples: int = 2
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    thresholds: RouteConfig = field(default_factory=RouteConfig)
    iteration: int | None = None
    seed: int = 0
    critique_top: int | None = None  # critique and revise only each task's best k samples by jury score; None: all


def build_agents_graph(store: Store, student: Backend, constitution: Constitution, settings: AgentSettings,
                       teacher: Backend | None = None, progress: Progress | None = None) -> Any:
    """The compiled-ready StateGraph; compile it with a checkpointer to make runs resumable."""
    report = progress or (lambda *args: None)

    def tasks_of(state: AgentState) -> list[Task]:
        return store.tasks(ids=state["task_ids"])

    def generation_node(state: AgentState) -> AgentState:
        tasks = tasks_of(state)
        ids: list[str] = []
        tokens = failed = 0
        total = len(tasks) * (settings.samples + (1 if teacher else 0))
        report("generate", 0, total)
        for backend, role, n in [(student, "student", settings.samples)] + ([(teacher, "teacher", 1)] if teacher else []):
            result = generate(store, backend, tasks, n, settings.generation, role=role,
                              iteration=settings.iteration, show_progress=False)
            tokens, failed = tokens + result.tokens_out, failed + result.failed
            report("generate", len(ids) + result.requested, total, tokens, failed)
            ids += result.ids
        return {"generation_ids": ids}

    def critique_node(state: AgentState) -> AgentState:
        tasks = {t.id: t for t in tasks_of(state)}
        originals = store.generations(ids=state["generation_ids"])
        judge_generations(store, tasks, originals, settings.iteration, lambda done, total: report("verify", done, total))
        if settings.critique_top is not None:
            originals = _best_per_task(originals, jury_scores(store, [g.id for g in originals]),
                                       settings.critique_top)
        verdicts = store.judgments_for([g.id for g in originals], judge_kind=verifier_judge.JUDGE_KIND)
        planned = constitutional.plan_critiques(tasks, originals, verdicts, constitution, str(student.spec),
                                                settings.seed)
        ids = constitutional.run_critiques(store, student, planned, settings.generation, report)
        return {"critique_ids": ids}

    def revision_node(state: AgentState) -> AgentState:
        tasks = {t.id: t for t in tasks_of(state)}
        ids = constitutional.run_revisions(store, student, tasks, state["critique_ids"], constitution,
                                           settings.generation, settings.iteration, report)
        return {"revision_ids": ids}

    def judge_node(state: AgentState) -> AgentState:
        tasks = {t.id: t for t in tasks_of(state)}
        revisions = store.generations(ids=state["revision_ids"])
        judge_generations(store, tasks, revisions, settings.iteration, lambda done, total: report("judge", done, total))
        return {"judged": len(state["generation_ids"]) + len(revisions)}

    def route_node(state: AgentState) -> AgentState:
        ids = state["generation_ids"] + state["revision_ids"]
        scores = jury_scores(store, ids)
        labels = store.labels_for(ids)
        rows = [decide(gid, scores.get(gid), settings.thresholds, settings.iteration, labels.get(gid, []))
                for gid in ids]
        store.insert("routes", rows)
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["decision"]] = counts.get(row["decision"], 0) + 1
        report("route", len(rows), len(rows))
        return {"routes": counts}

    def after_route(state: AgentState) -> Literal["__end__"]:
        if "routes" not in state:
            raise RuntimeError("route finished without routing anything")
        return END

    graph = StateGraph(AgentState)
    graph.add_node("generate", generation_node)
    graph.add_node("critique", critique_node)
    graph.add_node("revise", revision_node)
    graph.add_node("judge", judge_node)
    graph.add_node("route", route_node)
    graph.add_edge(START, "generate")
    graph.add_edge("generate", "critique")
    graph.add_edge("critique", "revise")
    graph.add_edge("revise", "judge")
    graph.add_edge("judge", "route")
    graph.add_conditional_edges("route", after_route)
    return graph


def _best_per_task(generations: list[Generation], scores: dict[str, JuryScore], k: int) -> list[Generation]:
    """Each task's k best-scored samples (ties by sample order), in the original order."""
    ranked: dict[str, list[Generation]] = {}
    for generation in generations:
        ranked.setdefault(generation.task_id, []).append(generation)
    keep = set()
    for samples in ranked.values():
        samples.sort(key=lambda g: -(scores[g.id].score if g.id in scores else 0.0))
        keep.update(g.id for g in samples[:k])
    return [g for g in generations if g.id in keep]
