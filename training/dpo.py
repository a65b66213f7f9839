"""Direct preference optimisation with TRL's DPOTrainer on a dpo data set from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedTokenizerBase
from transformers.trainer_pt_utils import LengthGroupedSampler
from trl import DPOConfig, DPOTrainer

from docflywheel.errors import NothingToTrain
from docflywheel.store import Store
from docflywheel.training.config import DPOSettings
from docflywheel.training.runs import (TrainingResult, context_length, fit, lora_config, open_run, read_rows,
                                       trainer_arguments, training_spec)


def train_dpo(store: Store, dataset_id: str, base: str, out_dir: Path, settings: DPOSettings | None = None, *,
              iteration: int | None = None, show_progress: bool = True) -> TrainingResult:
    """Train `base` (usually the SFT model, hf:PATH[#ADAPTER]) on stored preference pairs; LoRA unless settings.full.

    The reference model is the model the run starts from: with LoRA, TRL disables the adapter to get it,
    and a base spec's own adapter was merged into the weights first (see runs.py).
    """
    settings = settings or DPOSettings()
    spec = training_spec(base)
    rows = read_rows(store, dataset_id, ("dpo",), ("prompt", "chosen", "rejected"))
    run = open_run(store, "dpo", dataset_id, spec, settings, out_dir, iteration)
    if run.finished is not None:
        return run.finished
    with run.loaded(settings) as (base_path, tokenizer, model):
        limit = context_length(model, settings)
        fitting = _fitting(rows, tokenizer, limit, dataset_id)
        args = DPOConfig(**trainer_arguments(settings, run.out_dir), max_length=limit,
                         beta=settings.beta, loss_type=[settings.loss_type],
                         precompute_ref_log_probs=settings.precompute_ref)
        trainer = LengthGroupedDPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(fitting),
                                          processing_class=tokenizer, peft_config=lora_config(settings))
        metrics = fit(trainer, run, show_progress,
                      extra={"rewards/accuracies": "reward_accuracy", "rewards/margins": "reward_margin"})
        metrics["pairs_used"], metrics["pairs_prompt_too_long"] = len(fitting), len(rows) - len(fitting)
        return run.finish(trainer, base_path, metrics, full=settings.full)


def _fitting(rows: list[dict[str, Any]], tokenizer: PreTrainedTokenizerBase, limit: int,
             dataset_id: str) -> list[dict[str, Any]]:
    """The pairs whose prompt leaves room for a reply in `limit` tokens (TRL drops the others, and fails on none)."""
    fitting = [row for row in rows
               if len(tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True,
                                                    return_dict=False)) < limit]
    if not fitting:
        raise NothingToTrain(f"none of the {len(rows)} preference pairs of data set '{dataset_id}' has a prompt "
                             f"shorter than {limit} tokens: raise training.dpo.max_length or curate shorter tasks")
    return fitting


class LengthGroupedDPOTrainer(DPOTrainer):
    """DPOTrainer whose batches hold pairs of similar length, so less of each batch is padding.

    Transformers' `group_by_length` reads `input_ids`, which DPO's data set does not have.
    """

    def _get_train_sampler(self, train_dataset: Any = None) -> LengthGroupedSampler:
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        lengths = [len(prompt) + max(len(chosen), len(rejected)) for prompt, chosen, rejected in
                   zip(dataset["prompt_ids"], dataset["chosen_ids"], dataset["rejected_ids"], strict=True)]
        return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                    lengths=lengths)
