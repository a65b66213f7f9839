"""DPO on the micro model from a real store: the reference is the model the run starts from."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from docflywheel.config import GenerationConfig
from docflywheel.models import GenerationRequest, load_backend
from docflywheel.store import Store
from docflywheel.training.config import DPOSettings, SFTSettings
from docflywheel.training.dpo import train_dpo
from docflywheel.training.sft import train_sft


def test_lora_dpo_on_the_sft_model_records_rewards_against_that_model(
        store: Store, micro_model: Path, tmp_path: Path, sft_settings: SFTSettings, dpo_settings: DPOSettings,
        data: Any) -> None:
    sft = train_sft(store, data.add(store, "sft", data.sft_rows()), f"hf:{micro_model}", tmp_path / "sft",
                    sft_settings, show_progress=False)
    pairs = data.add(store, "dpo", data.dpo_rows())

    result = train_dpo(store, pairs, sft.spec, tmp_path / "dpo", dpo_settings, show_progress=False)

    assert result.spec == f"hf:{tmp_path / 'dpo' / 'base'}#{tmp_path / 'dpo' / 'adapter'}"
    curve = result.metrics["curve"]
    assert [point["step"] for point in curve] == [1, 2, 3, 4]
    # Policy and reference are the same model before the first update: every reward is 0 and the
    # loss is log 2. Against the plain micro model (the SFT adapter not merged) they would not be.
    assert curve[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert curve[0]["reward_margin"] == pytest.approx(0.0, abs=1e-5)
    assert result.metrics["reward_margin"] == curve[-1]["reward_margin"] > 0
    assert 0 <= result.metrics["reward_accuracy"] <= 1 and curve[-1]["reward_accuracy"] > 0.5
    lora_b = [t for n, t in load_file(tmp_path / "dpo" / "adapter" / "adapter_model.safetensors").items()
              if "lora_B" in n]
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b)
    run, = store.select("training_runs", id=result.run_id)
    assert run["status"] == "done" and run["kind"] == "dpo" and run["base_model"] == sft.spec
    assert json.loads(run["metrics"])["curve"] == curve
    backend = load_backend(result.spec, GenerationConfig(device="cpu"), tmp_path)
    reply, = backend.generate([GenerationRequest([{"role": "user", "content": data.prompt(1)}], max_new_tokens=8)])
    assert reply.finish_reason != "error" and reply.tokens_out > 0


def test_full_dpo_without_a_precomputed_reference_changes_every_layer(
        store: Store, micro_model: Path, tmp_path: Path, dpo_settings: DPOSettings, data: Any) -> None:
    settings = dpo_settings.model_copy(update={"full": True, "precompute_ref": False})

    result = train_dpo(store, data.add(store, "dpo", data.dpo_rows()), f"hf:{micro_model}", tmp_path / "dpo",
                       settings, show_progress=False)

    assert result.spec == f"hf:{tmp_path / 'dpo' / 'model'}"
    assert result.metrics["curve"][0]["reward_margin"] == pytest.approx(0.0, abs=1e-5)
    assert result.metrics["reward_margin"] > 0
    before = AutoModelForCausalLM.from_pretrained(micro_model).state_dict()
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "dpo" / "model").state_dict()
    assert all(not torch.equal(before[n], after[n]) for n in before if n.endswith("proj.weight"))


def test_dpo_refuses_an_sft_data_set(store: Store, micro_model: Path, tmp_path: Path, data: Any) -> None:
    from docflywheel.errors import InputError

    dataset = data.add(store, "sft", data.sft_rows())
    with pytest.raises(InputError, match=rf"data set '{dataset}' is of kind sft, this trainer takes dpo"):
        train_dpo(store, dataset, f"hf:{micro_model}", tmp_path / "dpo", show_progress=False)


def test_pairs_whose_prompt_fills_the_context_are_left_out_and_none_left_is_a_clear_error(
        store: Store, micro_model: Path, tmp_path: Path, dpo_settings: DPOSettings, data: Any) -> None:
    from docflywheel.errors import NothingToTrain

    pairs = data.add(store, "dpo", data.dpo_rows())
    short = dpo_settings.model_copy(update={"max_length": 8})  # every prompt of these pairs is longer
    with pytest.raises(NothingToTrain, match=rf"none of the \d+ preference pairs of data set '{pairs}' has a prompt "
                                             r"shorter than 8 tokens: raise training.dpo.max_length"):
        train_dpo(store, pairs, f"hf:{micro_model}", tmp_path / "dpo", short, show_progress=False)
    assert store.select("training_runs")[0]["status"] == "failed"
    result = train_dpo(store, pairs, f"hf:{micro_model}", tmp_path / "dpo2", dpo_settings, show_progress=False)
    assert result.metrics["pairs_used"] == len(data.dpo_rows()) and result.metrics["pairs_prompt_too_long"] == 0
