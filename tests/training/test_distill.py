"""Distillation on the micro model: logit-level with a shared tokenizer, sequence-level without."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from docflywheel.store import Store
from docflywheel.training.config import DistillSettings, SFTSettings
from docflywheel.training.distill import train_distill
from docflywheel.training.sft import train_sft


def test_a_shared_tokenizer_distils_the_teachers_logits(
        store: Store, micro_model: Path, tmp_path: Path, sft_settings: SFTSettings,
        distill_settings: DistillSettings, data: Any) -> None:
    teacher = train_sft(store, data.add(store, "sft", data.sft_rows()), f"hf:{micro_model}", tmp_path / "teacher",
                        sft_settings.model_copy(update={"max_steps": 8}), show_progress=False)
    kd = data.add(store, "kd", data.sft_rows())

    result = train_distill(store, kd, f"hf:{micro_model}", teacher.spec, tmp_path / "kd", distill_settings,
                           show_progress=False)

    assert result.metrics["method"] == "logit"
    assert result.spec == f"hf:{micro_model}#{tmp_path / 'kd' / 'adapter'}"
    curve = result.metrics["curve"]
    alpha = distill_settings.alpha
    for point in curve:
        assert point["loss"] == pytest.approx(alpha * point["kd_loss"] + (1 - alpha) * point["ce_loss"], rel=1e-4)
    # The student starts where the teacher started, so it can close most of the gap in a few steps.
    assert 0 < curve[-1]["kd_loss"] < curve[0]["kd_loss"]
    lora_b = [t for n, t in load_file(tmp_path / "kd" / "adapter" / "adapter_model.safetensors").items()
              if "lora_B" in n]
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b)
    run, = store.select("training_runs", id=result.run_id)
    assert run["kind"] == "distill" and run["status"] == "done"


def test_different_tokenizers_fall_back_to_training_on_the_teachers_replies(
        store: Store, micro_model: Path, tmp_path: Path, distill_settings: DistillSettings, data: Any) -> None:
    teacher = tmp_path / "teacher"
    shutil.copytree(micro_model, teacher)
    tokenizer = AutoTokenizer.from_pretrained(teacher)
    tokenizer.add_tokens(["<|docstring|>"])
    model = AutoModelForCausalLM.from_pretrained(teacher)
    model.resize_token_embeddings(len(tokenizer))
    model.save_pretrained(teacher)
    tokenizer.save_pretrained(teacher)

    result = train_distill(store, data.add(store, "kd", data.sft_rows()), f"hf:{micro_model}", f"hf:{teacher}",
                           tmp_path / "kd", distill_settings, show_progress=False)

    assert result.metrics["method"] == "sequence"
    assert all("kd_loss" not in point and point["loss"] > 0 for point in result.metrics["curve"])
    assert result.metrics["loss_on"] == "assistant turns"
