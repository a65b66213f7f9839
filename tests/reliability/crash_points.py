"""Crash anywhere: `docflywheel run` killed with SIGKILL at points spread over a run, and the store compared with
a clean run's. Shared by tests/reliability/test_crash_anywhere.py and bench/reliability.py.

The kill points watch the real run: row counts through a read-only peek that never waits on the run's lock (a
peek that finds the lock held means the run is writing: one point kills right then), and the files training
leaves under `<db>.runs/` (checkpoint-N folders). Where each kill landed is read afterwards from the frozen store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docflywheel.errors import StoreBusy, StoreError
from docflywheel.store import Store

DOCFLYWHEEL = [sys.executable, "-m", "docflywheel.cli"]
TABLES = ("tasks", "generations", "critiques", "judgments", "routes", "datasets", "dataset_rows", "training_runs",
          "models", "iterations")
# What defines a row besides its id; the rest (times, seconds, artifact paths, losses) may differ between runs.
DEFINING = {"tasks": ("qualname", "kind", "code", "split"),
            "generations": ("task_id", "text", "model", "role", "parent_id", "critique_id", "prompt_hash", "seed",
                            "sample_index", "iteration"),
            "critiques": ("generation_id", "principle_id", "critique", "status"),
            "judgments": ("generation_id", "generation_b_id", "judge_kind", "judge_version", "criterion", "score",
                          "verdict", "status"),
            "routes": ("generation_id", "decision", "iteration"),
            "datasets": ("name", "kind", "version", "row_count", "content_hash"),
            "dataset_rows": ("dataset_id", "position", "task_id", "data"),
            "training_runs": ("kind", "dataset_id", "base_model", "config", "status", "iteration"),
            "models": ("spec", "base_model", "adapter", "training_run_id", "role"),
            "iterations": ("iteration", "champion_model_id")}
# Row -> referenced row: (table, column, table it must exist in).
REFERENCES = [("generations", "task_id", "tasks"), ("generations", "parent_id", "generations"),
              ("critiques", "generation_id", "generations"), ("judgments", "generation_id", "generations"),
              ("judgments", "generation_b_id", "generations"), ("routes", "generation_id", "generations"),
              ("dataset_rows", "dataset_id", "datasets"), ("dataset_rows", "task_id", "tasks"),
              ("training_runs", "dataset_id", "datasets"), ("models", "training_run_id", "training_runs"),
              ("iterations", "champion_model_id", "models")]
PHASES = ("tasks", "generation", "judging", "critique", "revision", "routing", "curation", "training", "evaluation")


def flywheel_config(model: Path, folder: Path, **sections: Any) -> Path:
    """The micro loop of tests/training/test_loop.py, with training long enough to checkpoint before it ends."""
    settings: dict[str, Any] = {
        "models": {"student": f"hf:{model}", "teacher": None, "cache_dir": str(folder / "cache")},
        "tasks": {"packages": ["logging", "tarfile"]},
        "generation": {"max_new_tokens": 32, "batch_size": 16},
        "route": {"accept": 1.5, "reject": 1.0}, "curation": {"sft_min_score": 1.0, "dpo_min_margin": 0.2},
        "flywheel": {"train_tasks": 12, "test_tasks": 12, "samples": 3, "eval_samples": 1},
        "training": {"sft": {"max_steps": 6, "save_steps": 2, "max_length": 256},
                     "dpo": {"max_steps": 4, "save_steps": 2, "max_length": 256}}}
    settings.update(sections)
    path = folder / "flywheel.yaml"
    path.write_text(json.dumps(settings))  # JSON is YAML
    return path


def run_command(db: Path, config: Path, iterations: int = 2) -> list[str]:
    return [*DOCFLYWHEEL, "--db", str(db), "--config", str(config), "run", "--iterations", str(iterations), "--json"]


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    """The command in its own process group (the verifiers' sandboxes die with it), output to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def clean_run(db: Path, config: Path, timeout: float = 900) -> tuple[dict[str, Any], float]:
    """Run the loop to the end with no kill; returns its JSON and wall seconds."""
    started = time.perf_counter()
    done = subprocess.run(run_command(db, config), capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"clean run failed (exit {done.returncode}): {done.stderr[-3000:]}")
    return json.loads(done.stdout), time.perf_counter() - started


# -- the reference: where each phase begins and ends in a clean store -----------------------------------------------

@dataclass(frozen=True)
class Reference:
    """Row counts of a clean store, per turn and phase, that the kill points and the phase reading compare with."""

    rows: dict[str, list[dict[str, Any]]]

    @classmethod
    def of(cls, store: Store) -> Reference:
        return cls({table: store.select(table) for table in TABLES})

    def before_turn(self, turn: int) -> int:
        """Generations stored before turn `turn` writes its first document."""
        return sum(1 for g in self.rows["generations"] if _turn_of(g, self.rows) < turn)

    def models_after(self, turn: int) -> int:
        """Models recorded once turn `turn` has trained (the starting model plus each run's model)."""
        runs = {r["id"]: r["iteration"] for r in self.rows["training_runs"]}
        return sum(1 for m in self.rows["models"] if m["training_run_id"] is None or runs[m["training_run_id"]] <= turn)


def _turn_of(generation: dict[str, Any], rows: dict[str, list[dict[str, Any]]]) -> int:
    """The turn a generation belongs to: its iteration, or for an evaluation the turn that trained the model."""
    if generation["iteration"] is not None:
        return generation["iteration"]
    trained = {m["spec"]: m["training_run_id"] for m in rows["models"]}
    turns = {r["id"]: r["iteration"] for r in rows["training_runs"]}
    run = trained.get(generation["model"])
    return turns.get(run, 0) if run else 0


# -- kill points -----------------------------------------------------------------------------------------------------

@dataclass
class Peek:
    """What a watcher sees of a running loop: the last row counts it could read, and the run folder."""

    runs: Path
    counts: dict[str, int] = field(default_factory=dict)
    busy: bool = False  # the last look found the write lock held: the run is writing right now

    def row(self, table: str) -> int:
        return self.counts.get(table, 0)

    def has(self, pattern: str) -> bool:
        return any(self.runs.glob(pattern))


@dataclass(frozen=True)
class KillPoint:
    aim: str
    due: Callable[[Peek, Reference], bool]


def kill_points() -> list[KillPoint]:
    """Thirteen points in the order a run reaches them, from turn 0's evaluation to turn 2's."""
    ckpt = "checkpoint-*/trainer_state.json"
    return [
        KillPoint("evaluation of the starting model", lambda p, r: p.row("generations") >= 1),
        KillPoint("generation, turn 1", lambda p, r: p.row("generations") >= r.before_turn(1) + 1),
        KillPoint("a store write in turn 1", lambda p, r: p.busy and p.row("generations") > r.before_turn(1) + 16),
        KillPoint("critique, turn 1", lambda p, r: p.row("critiques") >= 1),
        KillPoint("judging revisions, turn 1",
                  lambda p, r: p.row("generations") > r.before_turn(1) + _count(r, "generations", role="student",
                                                                                iteration=1)),
        KillPoint("curation, turn 1", lambda p, r: p.row("datasets") >= 1),
        KillPoint("SFT training before a checkpoint, turn 1", lambda p, r: p.has("turn-1/sft-*")),
        KillPoint("SFT training after a checkpoint, turn 1", lambda p, r: p.has(f"turn-1/sft-*/{ckpt}")),
        KillPoint("DPO training after a checkpoint, turn 1", lambda p, r: p.has(f"turn-1/dpo-*/{ckpt}")),
        KillPoint("evaluation of the challenger, turn 1", lambda p, r: p.row("models") >= r.models_after(1)
                  and not p.has("turn-1/dpo-*/checkpoint-*")),  # finish removes them once the run is done
        KillPoint("generation, turn 2", lambda p, r: p.row("generations") >= r.before_turn(2) + 1),
        KillPoint("SFT training after a checkpoint, turn 2", lambda p, r: p.has(f"turn-2/sft-*/{ckpt}")),
        KillPoint("evaluation of the challenger, turn 2", lambda p, r: p.row("models") >= r.models_after(2)
                  and not p.has("turn-2/dpo-*/checkpoint-*")),
    ]


def time_points(clean_seconds: float, count: int, seed: int = 0) -> list[KillPoint]:
    """`count` kills at random moments: each after a uniform fraction of the clean run's duration (heavy variant)."""
    import random

    chooser = random.Random(seed)
    points = []
    for n in range(count):
        after = chooser.uniform(0.1, 0.9) * clean_seconds
        points.append(KillPoint(f"after {after:.1f} s (random {n + 1})", _elapsed(after)))
    return points


def _elapsed(seconds: float) -> Callable[[Peek, Reference], bool]:
    began = [0.0]

    def due(peek: Peek, reference: Reference) -> bool:
        now = time.monotonic()
        began[0] = began[0] or now
        return now - began[0] >= seconds

    return due


def _count(reference: Reference, table: str, **where: Any) -> int:
    return sum(1 for row in reference.rows[table] if all(row[k] == v for k, v in where.items()))


@dataclass(frozen=True)
class KillRecord:
    """One SIGKILL: what it aimed at, the phase the frozen store shows, and whether a checkpoint was waiting."""

    aim: str
    phase: str
    killed: bool  # False: the run ended before the point came, so nothing was killed
    during_write: bool = False
    checkpoint: str | None = None  # a checkpoint of an unfinished training run at kill time, relative to <db>.runs
    seconds: float = 0.0


def kill_at(db: Path, config: Path, point: KillPoint, reference: Reference, log: Path,
            timeout: float = 600) -> KillRecord:
    """Start the loop, SIGKILL its process group when `point` is due, and read where it landed."""
    process = start(run_command(db, config), log)
    peek = Peek(Path(f"{db}.runs"))
    watcher = Store(db, busy_timeout_s=0)  # never wait on the run's lock: look again a moment later
    started = time.monotonic()
    while process.poll() is None:
        if time.monotonic() - started > timeout:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"the loop ran past {timeout} s aiming at {point.aim}: see {log}")
        try:
            peek.counts, peek.busy = (watcher.counts(), False) if db.exists() else ({}, False)
        except StoreBusy:
            peek.busy = True
        except StoreError:
            pass  # the file is being created: no schema yet
        if point.due(peek, reference):
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait()
    seconds = time.monotonic() - started
    if process.returncode == 0:
        return KillRecord(point.aim, "finished", killed=False, seconds=seconds)
    if process.returncode != -signal.SIGKILL:
        raise AssertionError(f"the loop failed (exit {process.returncode}) aiming at {point.aim}: "
                             f"{log.read_text(errors='replace')[-3000:]}")
    store = Store(db)
    return KillRecord(point.aim, phase_of(store, reference), killed=True, during_write=peek.busy,
                      checkpoint=_waiting_checkpoint(store, peek.runs), seconds=seconds)


def phase_of(store: Store, reference: Reference) -> str:
    """The step a killed loop was in, read from its frozen store: the first of the turn whose rows are incomplete."""
    if not store.path.exists() or not store.counts().get("tasks"):
        return "tasks"
    rows = {table: store.select(table) for table in TABLES}
    turn = len(rows["iterations"])
    if turn == 0:
        return "evaluation"

    def of_turn(source: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        generations = {g["id"]: g for g in source["generations"] if g["iteration"] == turn}
        originals = {i for i, g in generations.items() if g["role"] == "student"}
        revisions = {i for i, g in generations.items() if g["role"] == "revision"}
        turns = {r["id"]: r["iteration"] for r in source["training_runs"]}
        return {"generation": len(originals),
                "judging": sum(1 for j in source["judgments"] if j["generation_id"] in originals),
                "critique": sum(1 for c in source["critiques"] if c["generation_id"] in originals),
                "revision": len(revisions),
                "judging revisions": sum(1 for j in source["judgments"] if j["generation_id"] in revisions),
                "routing": sum(1 for r in source["routes"] if r["iteration"] == turn),
                "curation": sum(1 for d in source["datasets"] if d["version"] <= turn),
                "training": sum(1 for r in source["training_runs"]
                                if r["iteration"] == turn and r["status"] == "done"),
                "evaluation": sum(1 for m in source["models"] if m["training_run_id"] and
                                  turns.get(m["training_run_id"]) == turn)}

    have, want = of_turn(rows), of_turn(reference.rows)
    for step, count in have.items():
        if count < want[step]:
            return "judging" if step == "judging revisions" else step
    return "evaluation"  # trained and recorded, the turn's row not yet: the challenger is being evaluated


def _waiting_checkpoint(store: Store, runs: Path) -> str | None:
    """A complete checkpoint of a training run that is not done, i.e. the one a rerun must resume from."""
    for run in store.select("training_runs", status="running"):
        folder = Path(run["artifact_path"])
        found = sorted(folder.glob("checkpoint-*/trainer_state.json"))
        if found:
            return str(found[-1].parent.relative_to(runs))
    return None


def kill_sequence(db: Path, config: Path, points: list[KillPoint], reference: Reference, logs: Path,
                  say: Callable[[str], None] = lambda line: None) -> list[KillRecord]:
    """Kill the loop at each point in turn (each kill's rerun is the next point's run); stops when one finishes."""
    records = []
    for n, point in enumerate(points):
        record = kill_at(db, config, point, reference, logs / f"kill-{n:02}.log")
        say(f"kill {n + 1:2}: {record.aim:45} -> {record.phase}"
            f"{' (during a store write)' if record.during_write else ''}"
            f"{f' (checkpoint {record.checkpoint})' if record.checkpoint else ''}"
            f"{'' if record.killed else ' (the run finished first)'} after {record.seconds:.1f} s")
        records.append(record)
        if not record.killed:
            break
    return records


# -- comparing stores ------------------------------------------------------------------------------------------------

def duplicates(store: Store) -> dict[str, int]:
    """Rows whose id is stored more than once, per table (only tables that have some)."""
    found = {}
    for table in TABLES:
        ids = store.digest(table)
        if len(ids) != len(set(ids)):
            found[table] = len(ids) - len(set(ids))
    return found


def orphans(store: Store) -> list[str]:
    """'table.column -> table: id' for every reference to a row that is not stored."""
    ids = {table: set(store.digest(table)) for table in TABLES}
    missing = []
    for table, column, target in REFERENCES:
        for row in store.select(table):
            if row[column] is not None and row[column] not in ids[target]:
                missing.append(f"{table}.{column} -> {target}: {row[column]}")
    return missing


def differences(reference: Store, other: Store) -> dict[str, dict[str, list[str]]]:
    """Per table: ids only in the reference (lost), only in the other (extra), and ids whose defining columns
    differ (changed). Empty when both stores hold the same rows."""
    found = {}
    for table in TABLES:
        mine = {row["id"]: _defining(table, row) for row in reference.select(table)}
        theirs = {row["id"]: _defining(table, row) for row in other.select(table)}
        table_diff = {"lost": sorted(mine.keys() - theirs.keys()), "extra": sorted(theirs.keys() - mine.keys()),
                      "changed": sorted(i for i in mine.keys() & theirs.keys() if mine[i] != theirs[i])}
        if any(table_diff.values()):
            found[table] = table_diff
    return found


def _defining(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    values = []
    for column in DEFINING[table]:
        value = row[column]
        if column == "score" and value is not None:
            value = round(value, 3)  # reference similarity varies in the 7th digit with the batch it was embedded in
        values.append(json.loads(value) if column in ("config", "data") and isinstance(value, str) else value)
    return tuple(json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v for v in values)


def resumed_runs(store: Store) -> list[dict[str, Any]]:
    """Training runs that went on from a checkpoint: {kind, iteration, resumed_from_step, steps}."""
    resumed = []
    for run in store.select("training_runs"):
        metrics = json.loads(run["metrics"]) if isinstance(run["metrics"], str) else (run["metrics"] or {})
        if metrics.get("resumed_from_step"):
            resumed.append({"kind": run["kind"], "iteration": run["iteration"],
                            "resumed_from_step": metrics["resumed_from_step"], "steps": metrics.get("steps")})
    return resumed


def adapters_differing(clean_runs: Path, runs: Path) -> list[str]:
    """Trained adapters (relative to the run folders) whose weights are not bit-identical to the clean run's."""
    import torch
    from safetensors.torch import load_file

    differing = []
    for path in sorted(runs.glob("turn-*/*/adapter/adapter_model.safetensors")):
        name = str(path.relative_to(runs))
        clean_path = clean_runs / name
        if not clean_path.exists():
            differing.append(f"{name} (no such adapter in the clean run)")
            continue
        mine, theirs = load_file(clean_path), load_file(path)
        if mine.keys() != theirs.keys() or not all(torch.equal(mine[k], theirs[k]) for k in mine):
            differing.append(name)
    return differing


def crash_anywhere(model: Path, folder: Path, say: Callable[[str], None] = print) -> dict[str, Any]:
    """The figures of bench/reliability.py: a clean run, the kill sequence on the same path, and the comparison."""
    config = flywheel_config(model, folder)
    work = folder / "work"
    db = work / "flywheel.duckdb"
    clean_output, clean_seconds = clean_run(db, config)
    work.rename(folder / "clean")
    clean = Store(folder / "clean" / "flywheel.duckdb")
    work.mkdir()
    reference = Reference.of(clean)
    started = time.perf_counter()
    records = kill_sequence(db, config, kill_points(), reference, folder, say=say)
    output, _ = clean_run(db, config)
    store = Store(db)
    found = differences(clean, store)
    return {"faults_injected": sum(r.killed for r in records),
            "faults_survived": sum(r.killed for r in records) if not found and not orphans(store) else 0,
            "phases_hit": len({r.phase for r in records if r.killed}),
            "kills_during_a_store_write": sum(r.during_write for r in records),
            "rows_lost": sum(len(t["lost"]) for t in found.values()),
            "rows_extra_or_changed": sum(len(t["extra"]) + len(t["changed"]) for t in found.values()),
            "duplicates": sum(duplicates(store).values()), "orphans": len(orphans(store)),
            "training_resumed_from_checkpoint": len(resumed_runs(store)),
            "adapters_not_bit_identical": len(adapters_differing(Path(f"{clean.path}.runs"), Path(f"{db}.runs"))),
            "same_turns": same_turns(output, clean_output),
            "clean_run_seconds": round(clean_seconds, 1),
            "killed_runs_seconds": round(time.perf_counter() - started, 1)}


def same_turns(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """Two `run --json` outputs agree on every turn's champion, challenger, promotion and data set sizes."""
    keys = ("iteration", "champion", "challenger", "promoted", "datasets")
    return [[t[k] for k in keys] for t in one["iterations"]] == [[t[k] for k in keys] for t in other["iterations"]]
