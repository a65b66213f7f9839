"""Graph overhead: the same prompts and sampling through the agents graph vs straight batched generation.

Both arms send the same requests (generate, critique, revise prompts with the same seeds) to the same
backend in batches of the same size; the graph arm adds LangGraph, the store writes, the verifiers and
routing. Target: graph time / raw generation time <= 1.05 for generation-bound work.
Run: .venv/bin/python bench/orchestration.py [--model SPEC] [--tasks N] [--samples K]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from docflywheel.agents.constitution import load_constitution
from docflywheel.agents.graph import AgentSettings, build_agents_graph
from docflywheel.config import load_config
from docflywheel.eval.scoring import VERIFIER_THREADS
from docflywheel.models import load_backend
from docflywheel.store import Store
from docflywheel.tasks import extract_tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args()
    config = load_config(None, {"generation.max_new_tokens": args.max_new_tokens})
    backend = load_backend(args.model, config.generation, config.models.cache_dir)
    settings = AgentSettings(samples=args.samples, generation=config.generation)
    with tempfile.TemporaryDirectory() as folder:
        graph_store, warm_store = Store(Path(folder) / "graph.duckdb"), Store(Path(folder) / "warm.duckdb")
        for store in (graph_store, warm_store):
            store.init()
            store.add_tasks(extract_tasks("logging"))
        task_ids = [t.id for t in graph_store.tasks(limit=args.tasks)]
        # Warm-up on another task in another store: the judges' imports and the MiniLM load happen once per
        # process, as the kernels' first calls do for raw generation (which bench/generation.py also warms).
        warm_task = warm_store.tasks()[-1].id
        build_agents_graph(warm_store, backend, load_constitution(), settings).compile().invoke({"task_ids": [warm_task]})

        calls: list[list] = []
        original = backend.generate

        def recording(requests):  # keep the exact batches the graph sent, to replay them raw
            calls.append(list(requests))
            return original(requests)

        backend.generate = recording  # type: ignore[method-assign]
        graph = build_agents_graph(graph_store, backend, load_constitution(), settings)
        started = time.perf_counter()
        graph.compile().invoke({"task_ids": task_ids})
        graph_s = time.perf_counter() - started
        backend.generate = original  # type: ignore[method-assign]

        started = time.perf_counter()
        for batch in calls:
            backend.generate(batch)
        raw_s = time.perf_counter() - started

        started = time.perf_counter()
        verifier_rows = graph_store.counts()["judgments"]
        from docflywheel.eval.judges import verifier_judge
        tasks = {t.id: t for t in graph_store.tasks()}
        for generation in graph_store.generations():
            verifier_judge.judge(tasks[generation.task_id], generation)
        verify_s = time.perf_counter() - started

    requests = sum(len(batch) for batch in calls)
    print(f"model {backend.spec}: {args.tasks} tasks x {args.samples} samples, {requests} model requests "
          f"in {len(calls)} batches (max {max(len(b) for b in calls)})")
    print(f"graph (generate -> critique -> revise -> judge -> route): {graph_s:.1f} s")
    print(f"raw batched generation of the same requests: {raw_s:.1f} s")
    print(f"overhead ratio graph / raw: {graph_s / raw_s:.3f}x (target <= 1.05x)")
    print(f"of the rest: the verifiers, run one at a time, take {verify_s:.1f} s for {verifier_rows} judgments "
          f"(the graph runs them {VERIFIER_THREADS} at a time); the reference judge's MiniLM embeddings and the store "
          f"reads and writes take what is left")


if __name__ == "__main__":
    main()
