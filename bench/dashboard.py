"""Dashboard pages on a large store: 100k generations and 1M judgments, each page rendered through AppTest.

Target: every page renders in under 1 s. The baseline, measured in the same run, is a plain
`SELECT count(*) FROM judgments` through a fresh read-only connection (the cost of opening the store).
Each figure is the page script's own time on the server (store reads, statistics, Altair charts), measured
inside an AppTest run. The agreement page shows values at once and computes bootstrap intervals in a
background thread: both renders are timed, and the background work on its own.
Run: .venv/bin/python bench/dashboard.py [--generations N] [--judgments M] [--db PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from streamlit.testing.v1 import AppTest

from docflywheel.dashboard import background
from docflywheel.records import content_id
from docflywheel.store import Store

KINDS = ["function", "class", "module"]
MODELS = ["tiny", "tiny+sft-1", "tiny+dpo-2", "small"]
VERIFIERS = ["parameters", "returns_raises", "code_blocks", "structure", "length"]
RUBRIC = ["content_adequacy", "conciseness", "fluency", "parameters"]
WORDS = np.array("the a value returns list of parameters raises error when given string number "
                 "object default path file name example call output".split())


def _text(rng: np.random.Generator, n: int, words: int) -> list[str]:
    picks = WORDS[rng.integers(0, len(WORDS), (n, words))]
    return [" ".join(row) for row in picks]


def build(path: Path, generations: int = 100_000, judgments: int = 1_000_000, labelled: int = 800,
          seed: int = 0) -> Store:
    """A store shaped like a few flywheel iterations, written in bulk Arrow batches."""
    rng = np.random.default_rng(seed)
    store = Store(path)
    store.init()
    n_tasks = generations // 10
    task_ids = [content_id("bench-task", i) for i in range(n_tasks)]
    store.insert("tasks", pa.table({
        "id": task_ids, "qualname": [f"pkg.mod{i // 50}.func{i}" for i in range(n_tasks)],
        "kind": rng.choice(KINDS, n_tasks), "language": ["python"] * n_tasks,
        "code": [f"def func{i}(a, b=1):\n    return a + b\n" for i in range(n_tasks)],
        "reference": _text(rng, n_tasks, 30), "split": rng.choice(["train", "dev", "test"], n_tasks, p=[.8, .1, .1]),
        "source": ["bench"] * n_tasks}))

    gen_ids = [content_id("bench-generation", i) for i in range(generations)]
    task_of = np.arange(generations) // 10
    sample = np.arange(generations) % 10
    role = np.where(sample < 6, "student", np.where(sample == 6, "teacher", "revision"))
    parent = [gen_ids[i - 7] if role[i] == "revision" else None for i in range(generations)]
    critique_ids = [content_id("bench-critique", i) if role[i] == "revision" else None for i in range(generations)]
    iteration = (task_of * 5 // n_tasks).astype(int)
    store.insert("generations", pa.table({
        "id": gen_ids, "task_id": [task_ids[t] for t in task_of], "text": _text(rng, generations, 60),
        "model": [MODELS[min(it, 3)] if r != "teacher" else "small" for it, r in zip(iteration, role)],
        "role": role, "parent_id": parent, "critique_id": critique_ids, "prompt_hash": ["p0"] * generations,
        "sample_index": sample.astype("int32"), "iteration": iteration.astype("int32")}))
    revisions = [i for i in range(generations) if role[i] == "revision"]
    store.insert("critiques", pa.table({
        "id": [critique_ids[i] for i in revisions], "generation_id": [gen_ids[i - 7] for i in revisions],
        "principle_id": rng.choice(["tldr", "params", "examples"], len(revisions)),
        "critique": _text(rng, len(revisions), 20), "model": ["tiny"] * len(revisions)}))

    # Judgments: 5 verifiers (0-1) and 4 rubric criteria (1-5) per generation, the rest pairwise (ab, ba, final).
    quality = rng.uniform(0, 1, generations)
    pointwise = min(judgments, generations * 9)
    g = np.arange(pointwise) // 9
    slot = np.arange(pointwise) % 9
    is_verifier = slot < 5
    criterion = np.where(is_verifier, np.array(VERIFIERS)[np.minimum(slot, 4)], np.array(RUBRIC)[np.maximum(slot - 5, 0)])
    noisy = np.clip(quality[g] + rng.normal(0, 0.2, pointwise), 0, 1)
    score = np.where(is_verifier, noisy.round(2), np.rint(1 + 4 * noisy))
    pairs = (judgments - pointwise) // 3
    # Distinct (student, student) pairs, each judged on two criteria.
    a = np.repeat(rng.permutation(np.arange(generations).reshape(-1, 10)[:, :3].ravel())[:(pairs + 1) // 2], 2)[:pairs]
    b = a + 3
    pair_criterion = np.array(["content_adequacy", "conciseness"])[np.arange(pairs) % 2]
    first = rng.uniform(0, 1, pairs) < 0.6  # a position bias: "A" more often than the quality says
    ab = np.where(quality[a] > quality[b], "A", "B")
    ba = np.where(first, "A", np.where(ab == "A", "B", "A"))
    final = np.where(ab == np.where(ba == "A", "B", "A"), ab, "tie")
    rows = pointwise + 3 * pairs
    store.insert("judgments", pa.table({
        "id": [content_id("bench-judgment", i) for i in range(rows)],
        "generation_id": [gen_ids[i] for i in g] + [gen_ids[i] for i in np.repeat(a, 3)],
        "generation_b_id": [None] * pointwise + [gen_ids[i] for i in np.repeat(b, 3)],
        "judge_kind": np.concatenate([np.where(is_verifier, "verifier", "rubric"), np.full(3 * pairs, "pairwise")]),
        "judge_model": np.concatenate([np.where(is_verifier, None, "small"), np.full(3 * pairs, "small")]),
        "judge_version": ["1"] * rows,
        "criterion": np.concatenate([criterion, np.repeat(pair_criterion, 3)]),
        "score": np.concatenate([score, np.full(3 * pairs, np.nan)]),
        "verdict": [None] * pointwise + [v for triple in zip(ab, ba, final) for v in triple],
        "order_shown": [None] * pointwise + ["ab", "ba", None] * pairs,
        "rationale": _text(rng, rows, 8), "status": ["ok"] * rows,
        "iteration": np.concatenate([iteration[g], np.repeat(iteration[a], 3)]).astype("int32")}))

    decision = np.where(quality < 0.3, "rejected", np.where(quality > 0.75, "accepted", "review"))
    store.insert("routes", pa.table({
        "id": [content_id("bench-route", i) for i in range(generations)], "generation_id": gen_ids,
        "decision": decision, "score": quality, "spread": rng.uniform(0, 0.5, generations),
        "iteration": iteration.astype("int32")}))

    chosen = rng.choice(np.flatnonzero(decision == "review"), labelled, replace=False)
    label_rows = []
    for n, i in enumerate(chosen):
        for annotator in ("ada", "grace"):
            for c in RUBRIC:
                label_rows.append({"id": content_id("bench-label", int(i), annotator, c), "generation_id": gen_ids[i],
                                   "criterion": c, "score": float(np.clip(np.rint(1 + 4 * quality[i] + rng.normal(0, .6)), 1, 5)),
                                   "annotator": annotator, "status": "labelled"})
    store.insert("human_labels", label_rows)
    label_rows = []  # pair labels: a batch of their own, as Arrow takes its columns from the first row
    for n in range(min(200, pairs)):
        verdict = "A" if quality[a[n]] > quality[b[n]] + 0.1 else "B" if quality[b[n]] > quality[a[n]] + 0.1 else "tie"
        label_rows.append({"id": content_id("bench-pair-label", n), "generation_id": gen_ids[a[n]],
                           "generation_b_id": gen_ids[b[n]], "criterion": pair_criterion[n], "verdict": verdict,
                           "annotator": "ada", "status": "labelled"})
    store.insert("human_labels", label_rows)

    for it in range(5):
        ds_id = content_id("bench-dataset", it)
        store.insert("datasets", [{"id": ds_id, "name": "sft", "kind": "sft", "version": it + 1,
                                   "filter": {"min_score": 0.7, "iteration": it}, "row_count": 10_000,
                                   "content_hash": ds_id}])
        store.insert("dataset_rows", pa.table({
            "id": [content_id("bench-row", it, p) for p in range(10_000)], "dataset_id": [ds_id] * 10_000,
            "position": np.arange(10_000, dtype="int32"),
            "data": [json.dumps({"messages": [{"role": "user", "content": f"Document func{p}"},
                                              {"role": "assistant", "content": "Adds two numbers."}]})
                     for p in range(10_000)]}))
        run_id = content_id("bench-run", it)
        curve = [{"step": s, "loss": float(3 * np.exp(-s / 80) + 0.5 + rng.normal(0, .03))} for s in range(0, 400, 5)]
        store.insert("training_runs", [{"id": run_id, "kind": "sft", "dataset_id": ds_id, "base_model": "tiny",
                                        "status": "done", "iteration": it, "metrics": {
                                            "steps": 400, "curve": curve, "final_loss": curve[-1]["loss"]}}])
        store.insert("models", [{"id": content_id("bench-model", it), "spec": f"tiny+sft-{it}", "base_model": "tiny",
                                 "training_run_id": run_id, "role": "champion" if it % 2 else "challenger"}])
        champion = 2.5 + 0.3 * it
        store.insert("iterations", [{"id": content_id("bench-iteration", it), "iteration": it,
                                     "champion_model_id": content_id("bench-model", it), "metrics": {
                                         "champion_score": champion, "ci_low": champion - .2, "ci_high": champion + .2,
                                         "delta": .3, "delta_ci_low": .1, "delta_ci_high": .5, "promoted": bool(it % 2),
                                         "champion": f"tiny+sft-{it}", "datasets": {"sft": 10_000, "dpo": 2_000 * it}}}])
    return store


def _page(db: str, name: str) -> None:
    import time

    import streamlit as st

    from docflywheel.dashboard.app import render_page

    started = time.perf_counter()
    render_page(db, name)
    st.session_state["render_s"] = time.perf_counter() - started


def _render(db: Path, name: str) -> float:
    """Seconds the page's script takes on the server (reads, statistics, charts); AppTest's own set-up excluded."""
    app = AppTest.from_function(_page, args=(str(db), name), default_timeout=120)
    app.run()
    if app.exception:
        raise RuntimeError(f"page {name} failed: {app.exception[0].message}")
    return float(app.session_state["render_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=100_000)
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="renders per page; the median is shown")
    parser.add_argument("--db", type=Path, help="reuse (or build once into) this store file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = args.db or Path(folder) / "bench.duckdb"
        if not db.exists():
            started = time.perf_counter()
            build(db, args.generations, args.judgments)
            print(f"built {db} in {time.perf_counter() - started:.0f} s")
        store = Store(db)
        counts = store.counts()
        print(f"store: {counts['generations']:,} generations, {counts['judgments']:,} judgments, "
              f"{counts['human_labels']:,} human labels, {counts['dataset_rows']:,} data set rows")
        _render(db, "datasets")  # imports and Streamlit's first-run work, not a page's cost

        baseline = []
        for _ in range(5):
            started = time.perf_counter()
            with store.connect(read_only=True) as con:
                con.execute("SELECT count(*) FROM judgments").fetchone()
            baseline.append(time.perf_counter() - started)
        base = float(np.median(baseline))
        print(f"baseline, open the store + SELECT count(*) FROM judgments: {base * 1000:.0f} ms")
        print(f"{'page':<44}{'seconds':>8}{'x baseline':>12}   target < 1 s")

        def report(name: str, seconds: float) -> None:
            print(f"{name:<44}{seconds:>8.2f}{seconds / base:>12.0f}   {'ok' if seconds < 1 else 'OVER'}")

        for page in ("review", "flywheel", "datasets"):
            report(page, float(np.median([_render(db, page) for _ in range(args.repeat)])))
        report("agreement, first visit (values, intervals queued)", _render(db, "agreement"))
        started = time.perf_counter()
        background.wait(timeout_s=600)
        print(f"{'  bootstrap intervals, in the background':<44}{time.perf_counter() - started:>8.2f}")
        report("agreement, intervals ready", float(np.median([_render(db, "agreement") for _ in range(args.repeat)])))
        load = os.getloadavg()[0]
        print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
