"""`docflywheel run`: the whole loop on a real store with the micro model, two turns, then resumed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from docflywheel.config import load_config
from docflywheel.store import Store
from docflywheel.tasks import extract_tasks
from docflywheel.training.loop import run_flywheel


def _config_file(micro_model: Path, tmp_path: Path) -> Path:
    # The micro model writes near-junk, so its documents are let through to curation at low scores.
    path = tmp_path / "flywheel.yaml"
    path.write_text(json.dumps({
        "models": {"student": f"hf:{micro_model}", "teacher": None, "cache_dir": str(tmp_path / "cache")},
        "generation": {"max_new_tokens": 32, "batch_size": 16},
        "route": {"accept": 1.5, "reject": 1.0}, "curation": {"sft_min_score": 1.0, "dpo_min_margin": 0.2},
        "flywheel": {"train_tasks": 12, "test_tasks": 12, "samples": 3, "eval_samples": 1},
        "training": {"sft": {"max_steps": 4, "max_length": 256}, "dpo": {"max_steps": 2, "max_length": 256}}}))
    return path  # JSON is YAML


@pytest.mark.slow
def test_two_turns_record_data_training_evaluation_and_promotion_and_a_rerun_redoes_nothing(
        store: Store, micro_model: Path, tmp_path: Path) -> None:
    store.add_tasks(extract_tasks("logging") + extract_tasks("tarfile"))
    config_file = _config_file(micro_model, tmp_path)
    config = load_config(config_file, {"store.path": str(store.path)})
    said: list[str] = []
    summaries = run_flywheel(store, config, iterations=2, show_progress=False, say=said.append)
    assert [s.iteration for s in summaries] == [0, 1, 2]
    assert summaries[0].champion == f"hf:{micro_model}" and summaries[0].challenger is None
    champion = summaries[0].champion
    for turn in summaries[1:]:
        assert turn.datasets["sft"] > 0 and turn.datasets["dpo"] > 0 and turn.datasets["kd"] == 0
        assert set(turn.training_loss) == {"sft", "dpo"} and all(v is not None for v in turn.training_loss.values())
        assert turn.challenger and turn.challenger.startswith("hf:") and "#" in turn.challenger
        assert turn.delta_ci_low <= turn.delta <= turn.delta_ci_high  # type: ignore[operator]
        assert turn.champion == (turn.challenger if turn.promoted else champion)
        assert turn.ci_low <= turn.champion_score <= turn.ci_high
        champion = turn.champion
    runs = store.select("training_runs")
    assert {(r["kind"], r["iteration"]) for r in runs} == {("sft", 1), ("dpo", 1), ("sft", 2), ("dpo", 2)}
    assert all(r["status"] == "done" for r in runs)
    assert store.select("generations", role="student", iteration=2)  # turn 2 wrote new documents
    assert any("turn 2" in line for line in said)
    counts = store.counts()
    command = [sys.executable, "-m", "docflywheel.cli", "--db", str(store.path), "--config", str(config_file),
               "run", "--iterations", "2", "--json"]
    printed = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert store.counts() == counts  # every turn was recorded: nothing is generated or trained again
    again = json.loads(printed)["iterations"]
    assert [(t["iteration"], t["champion"], t["delta"]) for t in again] == \
        [(s.iteration, s.champion, s.delta) for s in summaries]


@pytest.mark.slow
def test_a_teacher_that_beats_the_champion_writes_samples_and_is_distilled(
        store: Store, micro_model: Path, tmp_path: Path) -> None:
    from docflywheel.bootstrap import provide_model

    # The tiny model that ships with the package writes far better documents than the micro student.
    tiny, _ = provide_model("tiny", tmp_path / "tiny")
    store.add_tasks(extract_tasks("logging") + extract_tasks("tarfile"))
    config_file = _config_file(micro_model, tmp_path)
    config = load_config(config_file, {"store.path": str(store.path), "models.teacher": f"hf:{tiny}",
                                       "curation.kd_min_score": 1.0})
    start, turn = run_flywheel(store, config, iterations=1, show_progress=False, say=lambda _: None)
    assert turn.teacher is not None and turn.teacher["model"] == f"hf:{tiny}"
    assert turn.teacher["score"] > start.champion_score
    assert turn.teacher["used"] and turn.datasets["kd"] > 0
    runs = {r["kind"]: r for r in store.select("training_runs")}
    assert runs["distill"]["status"] == "done" and runs["sft"]["status"] == "done"
    assert turn.challenger is not None and turn.challenger.startswith("hf:")
    assert store.select("generations", role="teacher", iteration=1)
