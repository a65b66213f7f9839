"""SFT on the micro model from a real store: weights move, the loss is recorded, the new spec loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl.chat_template_utils import has_generation_markers

from docflywheel.bootstrap.tokenizer import CHAT_TEMPLATE
from docflywheel.config import GenerationConfig
from docflywheel.models import GenerationRequest, load_backend
from docflywheel.store import Store
from docflywheel.training.config import SFTSettings
from docflywheel.training.sft import ReplyLossSFTTrainer, sft_trainer, train_sft


def generates(spec: str, tmp_path: Path) -> str:
    """The reply of the model `spec` names to one prompt; fails the test if it cannot load or write."""
    backend = load_backend(spec, GenerationConfig(device="cpu"), tmp_path)
    try:
        request = GenerationRequest([{"role": "user", "content": "Document this code:\ndef f(x):\n    return x"}],
                                    max_new_tokens=8)
        reply, = backend.generate([request])
    finally:
        backend.close()
    assert reply.finish_reason != "error", reply.error
    assert reply.tokens_out > 0
    return reply.text


def test_lora_sft_moves_the_adapter_records_the_loss_and_the_new_spec_loads(
        store: Store, micro_model: Path, tmp_path: Path, sft_settings: SFTSettings, data: Any) -> None:
    dataset = data.add(store, "sft", data.sft_rows())
    before = {k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(micro_model).state_dict().items()}

    result = train_sft(store, dataset, f"hf:{micro_model}", tmp_path / "run", sft_settings, iteration=1,
                       show_progress=False)

    assert result.spec == f"hf:{micro_model}#{tmp_path / 'run' / 'adapter'}"
    adapter = load_file(tmp_path / "run" / "adapter" / "adapter_model.safetensors")
    # LoRA's B matrices start at zero: any non-zero entry was learned.
    lora_b = [tensor for name, tensor in adapter.items() if "lora_B" in name]
    assert lora_b and all(tensor.abs().sum() > 0 for tensor in lora_b)
    after = AutoModelForCausalLM.from_pretrained(micro_model).state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before), "the base weights must stay as they were"

    run, = store.select("training_runs", id=result.run_id)
    metrics = json.loads(run["metrics"])
    assert run["status"] == "done" and run["kind"] == "sft" and run["iteration"] == 1
    assert run["dataset_id"] == dataset and run["base_model"] == f"hf:{micro_model}"
    assert [point["step"] for point in metrics["curve"]] == [1, 2, 3, 4]
    assert all(0 < point["loss"] < 20 for point in metrics["curve"])
    assert metrics == result.metrics and metrics["loss_on"] == "assistant turns"
    assert json.loads(run["config"])["learning_rate"] == sft_settings.learning_rate
    model, = store.select("models", training_run_id=result.run_id)
    assert (model["spec"], model["role"], model["adapter"]) == (result.spec, "challenger", str(tmp_path / "run" / "adapter"))
    assert not list((tmp_path / "run").glob("checkpoint-*")), "a finished run keeps no checkpoints"
    generates(result.spec, tmp_path)


def test_full_fine_tune_changes_the_weights_and_saves_a_whole_model(
        store: Store, micro_model: Path, tmp_path: Path, sft_settings: SFTSettings, data: Any) -> None:
    dataset = data.add(store, "sft", data.sft_rows())
    settings = sft_settings.model_copy(update={"full": True})

    result = train_sft(store, dataset, f"hf:{micro_model}", tmp_path / "run", settings, show_progress=False)

    assert result.spec == f"hf:{tmp_path / 'run' / 'model'}"
    before = AutoModelForCausalLM.from_pretrained(micro_model).state_dict()
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "model").state_dict()
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert len(changed) > len(before) // 2
    generates(result.spec, tmp_path)


def test_a_template_without_generation_markers_trains_on_the_completion_only(
        store: Store, micro_model: Path, tmp_path: Path, sft_settings: SFTSettings, data: Any) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(micro_model, plain)
    tokenizer = AutoTokenizer.from_pretrained(plain)
    tokenizer.chat_template = CHAT_TEMPLATE.replace("{%- generation -%}", "").replace("{%- endgeneration -%}", "")
    assert not has_generation_markers(tokenizer.chat_template)
    tokenizer.save_pretrained(plain)
    dataset = data.add(store, "sft", data.sft_rows())

    result = train_sft(store, dataset, f"hf:{plain}", tmp_path / "run", sft_settings, show_progress=False)

    assert result.metrics["loss_on"] == "completion"
    assert all(point["loss"] > 0 for point in result.metrics["curve"])


def test_iteration_two_merges_the_champion_adapter_into_its_base_and_trains_a_fresh_one(
        store: Store, micro_model: Path, tmp_path: Path, sft_settings: SFTSettings, data: Any) -> None:
    dataset = data.add(store, "sft", data.sft_rows())
    champion = train_sft(store, dataset, f"hf:{micro_model}", tmp_path / "one", sft_settings, show_progress=False)

    result = train_sft(store, dataset, champion.spec, tmp_path / "two", sft_settings, iteration=2,
                       show_progress=False)

    merged = tmp_path / "two" / "base"
    assert result.spec == f"hf:{merged}#{tmp_path / 'two' / 'adapter'}"
    ids = AutoTokenizer.from_pretrained(micro_model)(data.prompt(3), return_tensors="pt")["input_ids"]
    with torch.no_grad():
        stacked = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(micro_model),
                                            str(tmp_path / "one" / "adapter"))(ids).logits
        flat = AutoModelForCausalLM.from_pretrained(merged)(ids).logits
        plain = AutoModelForCausalLM.from_pretrained(micro_model)(ids).logits
    assert torch.allclose(stacked, flat, atol=1e-5), "the merged base is the champion, adapter included"
    assert not torch.allclose(plain, flat, atol=1e-5)
    run, = store.select("training_runs", id=result.run_id)
    assert run["base_model"] == champion.spec and run["iteration"] == 2
    generates(result.spec, tmp_path)


def test_the_cpu_loss_over_reply_tokens_equals_trls_fused_head(
        micro_model: Path, tmp_path: Path, sft_settings: SFTSettings, data: Any) -> None:
    tokenizer = AutoTokenizer.from_pretrained(micro_model)
    model = AutoModelForCausalLM.from_pretrained(micro_model)
    trainer = sft_trainer(ReplyLossSFTTrainer, model, tokenizer, data.sft_rows(), sft_settings, tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    assert trainer.direct_head

    ours = trainer.compute_loss(trainer.model, dict(batch))
    trainer.direct_head = False
    trls = trainer.compute_loss(trainer.model, dict(batch))

    assert ours.item() == pytest.approx(trls.item(), rel=1e-5)


def test_an_unknown_dataset_id_is_an_input_error(store: Store, micro_model: Path, tmp_path: Path) -> None:
    from docflywheel.errors import InputError

    with pytest.raises(InputError, match=r"^no data set 'nope' in .*: give an id from table `datasets`"):
        train_sft(store, "nope", f"hf:{micro_model}", tmp_path / "run", show_progress=False)
    assert store.select("training_runs") == []
