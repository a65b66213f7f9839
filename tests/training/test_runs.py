"""Recorded runs: asked again they are recognised, killed they resume, bad inputs are refused in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from docflywheel.config import load_config
from docflywheel.errors import InputError, ModelError
from docflywheel.store import Store
from docflywheel.training.config import SFTSettings
from docflywheel.training.runs import last_checkpoint
from docflywheel.training.sft import train_sft


def test_a_finished_run_asked_again_returns_its_record_without_training(
        store: Store, micro_model: Path, tmp_path: Path, sft_settings: SFTSettings, data: Any) -> None:
    dataset = data.add(store, "sft", data.sft_rows())
    first = train_sft(store, dataset, f"hf:{micro_model}", tmp_path / "run", sft_settings, show_progress=False)
    adapter = tmp_path / "run" / "adapter" / "adapter_model.safetensors"
    written = adapter.stat().st_mtime_ns

    again = train_sft(store, dataset, f"hf:{micro_model}", tmp_path / "elsewhere", sft_settings, show_progress=False)

    assert again.reused and not first.reused
    assert (again.run_id, again.spec, again.metrics) == (first.run_id, first.spec, first.metrics)
    assert adapter.stat().st_mtime_ns == written and not (tmp_path / "elsewhere").exists()
    assert len(store.select("training_runs")) == len(store.select("models")) == 1
    other = train_sft(store, dataset, f"hf:{micro_model}", tmp_path / "other",
                      sft_settings.model_copy(update={"seed": 1}), show_progress=False)
    assert other.run_id != first.run_id and not other.reused
    with pytest.raises(InputError, match=rf"run holds training run {first.run_id} \(done\): remove it"):
        train_sft(store, dataset, f"hf:{micro_model}", tmp_path / "run", sft_settings.model_copy(update={"seed": 2}),
                  show_progress=False)


def _train_command(db: Path, config: Path, dataset: str, model: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "docflywheel.cli", "--db", str(db), "--config", str(config), "train", "sft",
            "--dataset", dataset, "--base", f"hf:{model}", "--out", str(out), "--json"]


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint_to_the_weights_of_an_unbroken_run(
        store: Store, micro_model: Path, tmp_path: Path, data: Any) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("training:\n  sft:\n    max_steps: 30\n    save_steps: 3\n    batch_size: 4\n"
                      "    max_length: 96\n", encoding="utf-8")
    settings = load_config(config).training.sft
    dataset = data.add(store, "sft", data.sft_rows())
    out = tmp_path / "killed"
    command = _train_command(store.path, config, dataset, micro_model, out)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while last_checkpoint(out) is None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    if process.returncode != -signal.SIGKILL:
        pytest.fail(f"the run ended (exit {process.returncode}) before it was killed: {process.stderr.read()}")
    run, = store.select("training_runs")
    assert run["status"] == "running"
    checkpoint = last_checkpoint(out)
    assert checkpoint is not None

    resumed = train_sft(store, dataset, f"hf:{micro_model}", tmp_path / "ignored", settings, show_progress=False)

    step = int(checkpoint.name.removeprefix("checkpoint-"))
    assert resumed.run_id == run["id"] and not resumed.reused
    assert resumed.metrics["resumed_from_step"] >= step and resumed.metrics["resumed_from_step"] < 30
    assert [point["step"] for point in resumed.metrics["curve"]] == list(range(1, 31))
    assert resumed.spec.endswith(f"#{out / 'adapter'}") and not (tmp_path / "ignored").exists()
    unbroken = Store(tmp_path / "unbroken.duckdb")
    unbroken.init()
    data.add(unbroken, "sft", data.sft_rows())
    clean = train_sft(unbroken, dataset, f"hf:{micro_model}", tmp_path / "clean", settings, show_progress=False)
    assert [p["loss"] for p in clean.metrics["curve"]] == pytest.approx([p["loss"] for p in resumed.metrics["curve"]])
    a = load_file(out / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "clean" / "adapter" / "adapter_model.safetensors")
    assert all(torch.allclose(a[name], b[name], atol=1e-6) for name in a)
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) | {"metrics": None} == {
        "run_id": resumed.run_id, "kind": "sft", "spec": resumed.spec, "artifact_path": str(out), "reused": True,
        "metrics": None}


def test_a_run_that_fails_is_recorded_failed_with_its_reason(
        store: Store, tmp_path: Path, sft_settings: SFTSettings, data: Any) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    with pytest.raises(ModelError, match="cannot load the tokenizer of"):
        train_sft(store, data.add(store, "sft", data.sft_rows()), f"hf:{empty}", tmp_path / "run", sft_settings,
                  show_progress=False)

    run, = store.select("training_runs")
    assert run["status"] == "failed"
    assert json.loads(run["metrics"])["error"].startswith("cannot load the tokenizer of")


BAD_ROWS = [
    ({"text": "hello"}, "field 'messages' must be a non-empty list of {role, content} messages"),
    ({"messages": []}, "field 'messages' must be a non-empty list"),
    ({"messages": [{"role": "user", "content": 3}]}, "field 'messages' must be a non-empty list"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "the last message must be the assistant's reply"),
]


@pytest.mark.parametrize(("row", "message"), BAD_ROWS, ids=["no-messages", "empty", "not-text", "no-reply"])
def test_a_malformed_row_is_named_by_data_set_and_position(
        store: Store, micro_model: Path, tmp_path: Path, data: Any, row: dict[str, Any], message: str) -> None:
    dataset = data.add(store, "sft", [*data.sft_rows(2), row])
    with pytest.raises(InputError, match=rf"^data set '{dataset}' row 2: {message}"):
        train_sft(store, dataset, f"hf:{micro_model}", tmp_path / "run", show_progress=False)
    assert store.select("training_runs") == []


def test_bad_specs_and_folders_are_refused_before_anything_is_recorded(
        store: Store, micro_model: Path, tmp_path: Path, data: Any) -> None:
    dataset = data.add(store, "sft", data.sft_rows())
    with pytest.raises(InputError, match=r"model spec 'openai:http://x#m' cannot be trained in this process"):
        train_sft(store, dataset, "openai:http://x#m", tmp_path / "run", show_progress=False)
    with pytest.raises(ModelError, match=r"model folder '/nowhere/tiny' does not exist"):
        train_sft(store, dataset, "hf:/nowhere/tiny", tmp_path / "run", show_progress=False)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=rf"{busy} is not empty: remove it or choose another output folder"):
        train_sft(store, dataset, f"hf:{micro_model}", busy, show_progress=False)
    assert store.select("training_runs") == []
