"""Reliability figures: hostile snippets against the sandbox, malformed judge replies and broken input files
against the real code, in one run. Each part returns a dict of figures; the last line printed is their JSON.

Run: .venv/bin/python bench/reliability.py [--full] [--only PART ...] [--load-tasks N]
The cases are the test suite's own (tests/reliability/*.py). --full adds the heavy parts (`FULL_PARTS`):
crash-anywhere (about 4 minutes here) and the load run (10,000 tasks against a vLLM server, about 25 minutes
on 2 cores). --only runs just the named parts (hostile, replies, broken, crash, load).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reliability"))

from broken_inputs import BROKEN, try_broken  # noqa: E402
from hostile_corpus import CORPUS, run_case  # noqa: E402
from model_replies import MALFORMED, ScriptedBackend  # noqa: E402


def hostile() -> dict[str, int]:
    contained = 0
    for case in CORPUS:
        outcome = run_case(case)
        contained += outcome.contained
        print(f"  {case.category:11} {case.name:30} {outcome.result.status:8} "
              f"{'contained' if outcome.contained else 'NOT CONTAINED: ' + '; '.join(outcome.problems)}")
    return {"hostile_tried": len(CORPUS), "hostile_contained": contained}


def replies() -> dict[str, int]:
    from docflywheel.eval.judges import pairwise, rubric
    from docflywheel.records import Generation, Task
    from docflywheel.store import Store

    task = Task(qualname="mathutil.add", kind="function", code="def add(a, b):\n    return a + b\n")
    stored_failed = raised = 0
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "replies.duckdb")
        store.init()
        store.add_tasks([task])
        for name, reply in MALFORMED.items():
            a, b = (Generation(task_id=task.id or "", text=text, model=f"{name}-{n}", prompt_hash="p")
                    for n, text in enumerate(("Add two numbers.", "Return a + b.")))
            store.add_generations([a, b])
            try:
                scored = rubric.judge_and_store(store, ScriptedBackend(reply), [(task, a)], criteria=["fluency"])
                paired = pairwise.judge_and_store(store, ScriptedBackend(reply), [(task, a, b)], criteria=["fluency"])
                ok = (scored.failed, scored.stored, paired.failed, paired.stored) == (1, 1, 2, 3)
            except Exception as error:  # noqa: BLE001 - counted: a reply must never raise
                ok, raised = False, raised + 1
                print(f"  {name:30} RAISED {type(error).__name__}: {error}"[:200])
            stored_failed += ok
            print(f"  {name:30} {'stored as failed' if ok else 'NOT STORED AS FAILED'}")
    return {"replies_tried": len(MALFORMED), "replies_stored_as_failed": stored_failed, "replies_raised": raised}


def broken() -> dict[str, int]:
    clear = lost = 0
    for case in BROKEN:
        with tempfile.TemporaryDirectory() as folder:
            answer = try_broken(case, Path(folder))
        clear += answer.clear
        lost += answer.rows_lost
        print(f"  {case.kind:12} {case.name:50} {'clear error' if answer.clear else '; '.join(answer.problems)}")
    return {"broken_tried": len(BROKEN), "broken_clear_errors": clear, "rows_lost": lost}


PARTS: dict[str, Callable[[], dict[str, int]]] = {"hostile snippets": hostile, "malformed judge replies": replies,
                                                   "broken input files": broken}


def crash() -> dict[str, int]:
    """Kill `docflywheel run` (micro model, two turns) at 13 points and compare the store with a clean run's."""
    from crash_points import crash_anywhere

    from docflywheel.bootstrap import bootstrap_model

    with tempfile.TemporaryDirectory() as folder:
        model = bootstrap_model("micro", Path(folder) / "micro", seed=0, show_progress=False).path
        return crash_anywhere(model, Path(folder), say=lambda line: print(f"  {line}"))


LOAD_TASKS = 10_000


def load() -> dict[str, float]:
    """LOAD_TASKS real tasks documented and judged through a vLLM server serving the shipped tiny model, behind
    a proxy that answers 503, drops connections and holds requests past the timeout (tests/reliability/load.py)."""
    from load import FaultPlan, load_run, window_table

    from docflywheel.bootstrap import SHIPPED
    from docflywheel.models.vllm_server import start_server

    with tempfile.TemporaryDirectory() as folder:
        with start_server(SHIPPED / "tiny", log_path=Path(folder) / "server.log", served_model_name="tiny",
                          timeout_s=600) as server:
            figures = load_run(Path(folder) / "load.duckdb", server.base_url, "tiny", tasks=LOAD_TASKS, windows=20,
                               concurrency=32, plan=FaultPlan(), timeout_s=30.0, server_pid=server.process.pid,
                               max_new_tokens=64, say=lambda line: print(f"  {line}", flush=True))
    print(window_table(figures))
    return figures.summary()


FULL_PARTS: dict[str, Callable[[], dict[str, int]]] = {"crash anywhere": crash, "load": load}


def main() -> None:
    global LOAD_TASKS  # noqa: PLW0603 - the parts take no arguments; this one setting is the command line's
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also run the heavy parts (FULL_PARTS)")
    parser.add_argument("--only", nargs="+", metavar="PART", help="run only these parts (by function name)")
    parser.add_argument("--load-tasks", type=int, default=LOAD_TASKS, help="tasks in the load run")
    args = parser.parse_args()
    LOAD_TASKS = args.load_tasks
    chosen = {**PARTS, **(FULL_PARTS if args.full or args.only else {})}
    if args.only:
        chosen = {title: part for title, part in chosen.items() if part.__name__ in args.only}
    figures: dict[str, float] = {}
    for title, part in chosen.items():
        print(title)
        started = time.perf_counter()
        figures.update(part())
        figures[f"{part.__name__}_seconds"] = round(time.perf_counter() - started, 1)
    print("\n| figure | value |\n| --- | --- |")
    for key, value in figures.items():
        print(f"| {key} | {value} |")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
