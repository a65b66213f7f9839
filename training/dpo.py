"""Direct preference optimisation with TRL's DPOTrainer on a dpo data set from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers.trainer_pt_utils import LengthGroupedSampler
from trl import DPOConfig, DPOTrainer

from docflywheel.bootstrap.train import torch_threads
from docflywheel.store import Store
from docflywheel.training.config import DPOSettings
from docflywheel.training.runs import (TrainingResult, context_length, fit, load_model, load_tokenizer, lora_config,
                                       open_run, plain_weights, quiet, read_rows, trainer_arguments, training_spec)


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
    with run.recording(), quiet(), torch_threads(settings.threads):
        base_path = plain_weights(spec, run.out_dir)
        tokenizer = load_tokenizer(base_path)
        model = load_model(base_path, settings)
        args = DPOConfig(**trainer_arguments(settings, run.out_dir), max_length=context_length(model, settings),
                         beta=settings.beta, loss_type=[settings.loss_type],
                         precompute_ref_log_probs=settings.precompute_ref)
        trainer = LengthGroupedDPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                          processing_class=tokenizer, peft_config=lora_config(settings))
        metrics = fit(trainer, run, show_progress,
                      extra={"rewards/accuracies": "reward_accuracy", "rewards/margins": "reward_margin"})
        return run.finish(trainer, base_path, metrics, full=settings.full)


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
