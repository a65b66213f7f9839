"""Supervised fine-tuning with TRL's SFTTrainer on an sft (or kd) data set from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from accelerate.utils import is_peft_model
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from trl import SFTConfig, SFTTrainer
from trl.chat_template_utils import has_generation_markers

from docflywheel.store import Store
from docflywheel.training.config import SFTSettings
from docflywheel.training.runs import (TrainingResult, context_length, fit, lora_config, open_run, read_rows,
                                       trainer_arguments, training_spec)


def train_sft(store: Store, dataset_id: str, base: str, out_dir: Path, settings: SFTSettings | None = None, *,
              iteration: int | None = None, show_progress: bool = True) -> TrainingResult:
    """Fine-tune `base` (a model spec, hf:PATH[#ADAPTER]) on a stored chat data set; LoRA unless settings.full.

    out_dir: where checkpoints and the new adapter (or model) go; a resumed run keeps its first folder.
    """
    settings = settings or SFTSettings()
    spec = training_spec(base)
    rows = read_rows(store, dataset_id, ("sft", "kd"), ("messages",))
    run = open_run(store, "sft", dataset_id, spec, settings, out_dir, iteration)
    if run.finished is not None:
        return run.finished
    with run.loaded(settings) as (base_path, tokenizer, model):
        trainer = sft_trainer(ReplyLossSFTTrainer, model, tokenizer, rows, settings, run.out_dir)
        metrics = {**fit(trainer, run, show_progress), "loss_on": loss_on(trainer)}
        return run.finish(trainer, base_path, metrics, full=settings.full)


def sft_trainer(trainer_class: type[SFTTrainer], model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                rows: list[dict[str, Any]], settings: SFTSettings, out_dir: Path, **extra: Any) -> SFTTrainer:
    """An SFTTrainer (or a subclass, given `extra` arguments) whose loss is on the assistant's reply only."""
    assistant_only = has_generation_markers(tokenizer.chat_template)
    if assistant_only:
        dataset = Dataset.from_list(rows)
    else:
        # Without {% generation %} markers the template cannot say which tokens are the assistant's; as
        # prompt + completion, TRL masks the prompt under any chat template.
        dataset = Dataset.from_list([{"prompt": row["messages"][:-1], "completion": row["messages"][-1:]}
                                     for row in rows])
    # Unpacked, batches of rows of similar length waste less work on padding (45% of it on our docstring
    # data in random batches of 8). bfd packing fills rows with whole examples and trains padding-free.
    args = SFTConfig(**trainer_arguments(settings, out_dir), max_length=context_length(model, settings),
                     packing=settings.packing, packing_strategy="bfd", assistant_only_loss=assistant_only,
                     train_sampling_strategy="random" if settings.packing else "group_by_length")
    return trainer_class(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=lora_config(settings), **extra)


def loss_on(trainer: SFTTrainer) -> str:
    """Which tokens the loss covered: the assistant turns (template markers) or the completion (fallback)."""
    return "assistant turns" if trainer.args.assistant_only_loss else "completion"


class ReplyLossSFTTrainer(SFTTrainer):
    """SFTTrainer whose loss, on the CPU, runs the LM head once over the reply tokens only.

    TRL's fused head computes the same loss in tiles to spare GPU memory; on the CPU its per-tile torch
    ops made a step of the tiny model 2-3x slower (same loss to the last digit). On a GPU, and for
    models that scale or cap their logits, TRL's own loss runs.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = self.model.config.get_text_config()
        scaled = any(getattr(config, name, None) is not None for name in _LOGIT_TRANSFORMS)
        self.direct_head = self.args.device.type == "cpu" and not scaled

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: torch.Tensor | int | None = None) -> Any:
        if return_outputs or not self.direct_head:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        logits, targets = reply_logits(model, inputs)
        count = num_items_in_batch if num_items_in_batch is not None else max(1, targets.numel())
        self.log_batch(inputs, logits, targets)
        return F.cross_entropy(logits, targets, reduction="sum") / count

    def log_batch(self, inputs: dict[str, Any], logits: torch.Tensor, targets: torch.Tensor) -> None:
        """The figures TRL logs per step: token accuracy on the replies, tokens trained on so far."""
        mode = "train" if self.model.training else "eval"
        with torch.no_grad():
            hits = (logits.argmax(-1) == targets).float()
        self._metrics[mode]["mean_token_accuracy"].append(hits.mean().item() if targets.numel() else 0.0)
        if mode == "train":
            mask = inputs.get("attention_mask")
            self._total_train_tokens += int(mask.sum()) if mask is not None else inputs["position_ids"].size(1)
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]


# Config fields with which a model scales or caps its logits; TRL's fused head applies them.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
                     "logits_scaling")


def reply_logits(model: torch.nn.Module, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits at the positions whose next token is a label, and those labels (the LM head skips the rest)."""
    causal = model.get_base_model() if is_peft_model(model) else model
    forward = {key: value for key, value in inputs.items() if key != "labels"}
    hidden = causal.base_model(**forward, use_cache=False).last_hidden_state[:, :-1]
    targets = inputs["labels"][:, 1:]
    keep = targets != -100
    return causal.get_output_embeddings()(hidden[keep]), targets[keep]
