"""The dashboard labels 200 items while `docflywheel run` writes (issue 7, item 2): no save errors, every label
lands, and the loop's rows equal a clean run's.

Real components: the CLI in a subprocess on the micro model, one DuckDB file, and the review page's own save path
(`label_rows`, then `insert` on the dashboard's SerialStore from `open_store`) in this process, as a browser
session's thread would run it. Labels go only to generations the loop will not route again (evaluations, and
generations already routed): a person's label decides a route (agents/route.py), so a label on a generation the
loop is about to route would rightly change that turn's data sets and everything trained from them.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path

import pytest
from crash_points import clean_run, differences, duplicates, flywheel_config, orphans, run_command, same_turns

from docflywheel.dashboard.launch import open_store
from docflywheel.dashboard.review import label_rows
from docflywheel.errors import StoreBusy, StoreError
from docflywheel.eval.rubric import load_rubric
from docflywheel.store import Store

LABELS = 200
WAITED_S = 0.25  # a save slower than this waited on the loop's write lock (the median save takes ~60 ms)


def _wait_for_generations(db: Path, loop: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until the running loop has stored a generation; a peek that finds the store busy looks again."""
    peek, started = Store(db, busy_timeout_s=0), time.monotonic()
    while time.monotonic() - started < timeout:
        assert loop.poll() is None, "the loop ended before it stored a generation"
        try:
            if db.exists() and peek.counts().get("generations"):
                return
        except (StoreBusy, StoreError):
            pass  # writing, or no schema yet
        time.sleep(0.05)
    raise AssertionError(f"no generation stored after {timeout} s")


@pytest.mark.slow
def test_two_hundred_labels_saved_while_the_loop_writes_all_land_and_change_no_loop_row(
        micro_model: Path, tmp_path: Path) -> None:
    config = flywheel_config(micro_model, tmp_path)
    work = tmp_path / "work"
    db = work / "flywheel.duckdb"
    clean_output, clean_seconds = clean_run(db, config)
    work.rename(tmp_path / "clean")  # the labelled run uses the very path: the model specs name it
    clean = Store(tmp_path / "clean" / "flywheel.duckdb")
    work.mkdir()

    with (tmp_path / "run.json").open("wb") as out, (tmp_path / "loop.log").open("wb") as log:
        loop = subprocess.Popen(run_command(db, config), stdout=out, stderr=log, start_new_session=True)
    criteria = [c.id for c in load_rubric().criteria]
    interval = 0.6 * clean_seconds / LABELS  # spread over the run, with room for a slower labelled run
    saved: list[str] = []
    errors: list[str] = []
    seconds: list[float] = []
    try:
        _wait_for_generations(db, loop)
        dashboard = open_store(db)
        due = time.monotonic()
        for n in range(LABELS):
            time.sleep(max(0.0, due - time.monotonic()))
            due += interval
            assert loop.poll() is None, f"the loop ended after {n} of {LABELS} labels: raise the pace"
            # What the review page lists, all of it; a label per criterion and annotator, so ids are distinct.
            items, _ = dashboard.review_items(unlabelled_only=False, limit=10_000)
            settled = [i["generation_id"] for i in items if i["iteration"] is None or i["decision"] is not None]
            rows = label_rows(settled[n % len(settled)], f"annotator-{n % 5}",
                              scores={criteria[n % len(criteria)]: 1 + n % 5})
            began = time.monotonic()
            try:
                assert dashboard.insert("human_labels", rows) == 1
            except (StoreError, AssertionError) as error:
                errors.append(f"label {n}: {error!r}")
                continue
            finally:
                seconds.append(time.monotonic() - began)
            saved.append(rows[0]["id"])
        still_running = loop.poll() is None
        assert loop.wait(timeout=600) == 0, (tmp_path / "loop.log").read_text(errors="replace")[-3000:]
    finally:
        if loop.poll() is None:
            loop.kill()

    store = Store(db)
    stored = {row["id"] for row in store.select("human_labels")}
    lost = sorted(set(saved) - stored)
    waits = sum(s > WAITED_S for s in seconds)
    print(f"labels saved {len(saved)}, errors {len(errors)}, waits {waits} (longest {max(seconds):.2f} s, "
          f"median {statistics.median(seconds) * 1000:.0f} ms), lost {len(lost)}")
    assert errors == [] and still_running
    assert len(set(saved)) == LABELS and lost == [] and len(stored) == LABELS
    generations = set(store.digest("generations"))
    assert all(row["generation_id"] in generations for row in store.select("human_labels"))

    # Labels are no loop row: the generations, judgments, routes, data sets, training runs and models are the clean
    # run's, and so are the turns. Only `agreement` (jury against people, in the run's output) may change.
    assert duplicates(store) == {} and orphans(store) == []
    assert differences(clean, store) == {}
    output = json.loads((tmp_path / "run.json").read_text())
    assert same_turns(output, clean_output)
    assert [t["agreement"] for t in clean_output["iterations"]] == [None] * len(clean_output["iterations"])
    assert output["iterations"][-1]["agreement"]["labelled"] >= 5, output["iterations"]
