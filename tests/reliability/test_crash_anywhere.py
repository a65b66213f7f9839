"""Crash anywhere, lose nothing (issue 7.1), and commands on one store at once (issue 7.2).

The real CLI in subprocesses, a real DuckDB file, the micro model and real SIGKILLs. DOCFLYWHEEL_HEAVY=1 adds
twenty kills at random moments on a second store.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from crash_points import (DOCFLYWHEEL, KillPoint, KillRecord, Reference, adapters_differing, clean_run, differences,
                          duplicates, flywheel_config, kill_points, kill_sequence, orphans, resumed_runs, run_command,
                          same_turns, start, time_points)

from docflywheel.store import Store

HEAVY = os.environ.get("DOCFLYWHEEL_HEAVY") == "1"


@dataclass
class Clean:
    """A finished clean run, moved aside: `db` is free for killed runs at the very path (the model specs name it)."""

    root: Path
    config: Path
    db: Path
    store: Store
    output: dict[str, Any]
    seconds: float
    records: list[KillRecord] = field(default_factory=list)  # of the last `kill`

    def kill(self, points: list[KillPoint]) -> Store:
        """Run the loop at `db`, killed at `points`, then to the end; the store it leaves, checked against ours."""
        if self.db.parent.exists():  # an earlier test's killed store: keep it beside, to look at
            self.db.parent.rename(self.root / f"killed-{len(list(self.root.glob('killed-*')))}")
        self.db.parent.mkdir()
        self.records = kill_sequence(self.db, self.config, points, Reference.of(self.store), self.root, say=print)
        done = subprocess.run(run_command(self.db, self.config), capture_output=True, text=True, timeout=600,
                              check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        killed = Store(self.db)
        assert duplicates(killed) == {}
        assert orphans(killed) == [] and orphans(self.store) == []
        assert differences(self.store, killed) == {}
        assert {r["status"] for r in killed.select("training_runs")} == {"done"}
        assert same_turns(json.loads(done.stdout), self.output)
        # Training is deterministic on the CPU and a resume restores optimizer, scheduler and RNG: the same weights.
        assert adapters_differing(Path(f"{self.store.path}.runs"), Path(f"{self.db}.runs")) == []
        return killed


@pytest.fixture(scope="module")
def clean(micro_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Clean:
    root = tmp_path_factory.mktemp("crash")
    config = flywheel_config(micro_model, root)
    work = root / "work"
    output, seconds = clean_run(work / "flywheel.duckdb", config)
    work.rename(root / "clean")
    return Clean(root, config, work / "flywheel.duckdb", Store(root / "clean" / "flywheel.duckdb"), output, seconds)


@pytest.mark.slow
def test_a_run_killed_at_thirteen_points_ends_with_the_rows_of_a_clean_run(clean: Clean) -> None:
    store = clean.kill(kill_points())
    killed = [r for r in clean.records if r.killed]
    assert len(killed) >= 10, clean.records
    assert {"generation", "judging", "curation", "training", "evaluation"} <= {r.phase for r in killed}, clean.records
    assert any(r.during_write for r in killed), clean.records
    assert any(r.checkpoint for r in killed), clean.records
    # A run killed after a checkpoint went on from it (all its steps, counted on from the checkpoint's).
    resumed = resumed_runs(store)
    assert resumed, store.select("training_runs")
    steps = {"sft": 6, "dpo": 4}
    assert all(run["steps"] == steps[run["kind"]] and 0 < run["resumed_from_step"] <= run["steps"]
               for run in resumed), resumed


@pytest.mark.slow
@pytest.mark.skipif(not HEAVY, reason="heavy: set DOCFLYWHEEL_HEAVY=1 for twenty kills at random moments")
def test_a_run_killed_at_twenty_random_moments_ends_with_the_rows_of_a_clean_run(clean: Clean) -> None:
    # Each kill's rerun goes on from where the last one stopped, so a run finishes after a handful of kills;
    # then a new run starts on a fresh store, until twenty kills have landed. Every run ends equal to the clean one.
    points, landed = time_points(clean.seconds, 60), []
    while sum(r.killed for r in landed) < 20 and points:
        clean.kill(points)
        landed += clean.records
        points = points[len(clean.records):]
    assert sum(r.killed for r in landed) >= 20, landed


@pytest.mark.slow
def test_status_and_add_package_beside_a_running_loop_wait_or_say_the_store_is_busy(
        micro_model: Path, tmp_path: Path) -> None:
    """Three commands on one store: beside the loop, each waits and succeeds or exits 2 saying the store is busy."""
    db = tmp_path / "flywheel.duckdb"
    loop = start(run_command(db, flywheel_config(micro_model, tmp_path), iterations=1), tmp_path / "loop.log")
    impatient = tmp_path / "impatient.yaml"
    impatient.write_text(json.dumps({"store": {"busy_timeout_s": 0.01}}))
    outcomes: list[tuple[str, bool, str]] = []  # (command, patient, "ok" or "busy")
    while loop.poll() is None:
        if not db.exists():
            time.sleep(0.1)
            continue
        # Both at once, one of them willing to wait (the default 60 s) and one not; they swap every round.
        patient = len(outcomes) // 2 % 2
        commands = {name: [*DOCFLYWHEEL, "--db", str(db), *([] if n == patient else ["--config", str(impatient)]),
                           *name.split()] for n, name in enumerate(("status --json", "tasks add-package logging"))}
        running = {name: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for name, command in commands.items()}
        for n, (name, process) in enumerate(running.items()):
            out, err = process.communicate(timeout=300)
            lines = err.strip().splitlines()
            if process.returncode == 0:
                outcomes.append((name, n == patient, "ok"))
                continue
            assert n != patient, f"{name} waited and still failed: {err}"
            assert process.returncode == 2 and len(lines) == 1, err
            assert lines[0].startswith(f"error: store {db} is busy: process ") and "busy_timeout_s" in lines[0], err
            outcomes.append((name, False, "busy"))
    assert loop.wait() == 0, (tmp_path / "loop.log").read_text()[-3000:]
    print(outcomes)
    assert {name for name, _, said in outcomes if said == "ok"} == {"status --json", "tasks add-package logging"}
    store = Store(db)
    assert duplicates(store) == {} and orphans(store) == []
    assert [row["iteration"] for row in store.select("iterations", order_by="iteration")] == [0, 1]
    assert {r["status"] for r in store.select("training_runs")} == {"done"}
