"""Knowledge distillation from a teacher into a student on a kd data set (teacher-written replies).

When both models share a tokenizer, the student learns the teacher's whole next-token distribution on
every reply token (logit-level KD); otherwise their logits cannot be compared, and it learns the
teacher's replies as text (sequence-level KD: SFT on the kd rows; Kim and Rush 2016).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from peft import PeftModel

from docflywheel.models.base import ModelSpec
from docflywheel.store import Store
from docflywheel.training.config import DistillSettings
from docflywheel.training.runs import (TrainingResult, fit, load_model, load_tokenizer, open_run, read_rows,
                                       training_spec)
from docflywheel.training.sft import ReplyLossSFTTrainer, loss_on, reply_logits, sft_trainer


def train_distill(store: Store, dataset_id: str, student: str, teacher: str, out_dir: Path,
                  settings: DistillSettings | None = None, *, iteration: int | None = None,
                  show_progress: bool = True) -> TrainingResult:
    """Distil `teacher` into `student` (model specs, hf:PATH[#ADAPTER]); LoRA on the student unless settings.full.

    The recorded metrics say which `method` ran: "logit" (shared tokenizer) or "sequence".
    """
    settings = settings or DistillSettings()
    student_spec, teacher_spec = training_spec(student), training_spec(teacher)
    rows = read_rows(store, dataset_id, ("kd", "sft"), ("messages",))
    run = open_run(store, "distill", dataset_id, student_spec, settings, out_dir, iteration, teacher_spec)
    if run.finished is not None:
        return run.finished
    with run.loaded(settings) as (base_path, tokenizer, model):
        if load_tokenizer(teacher_spec.model).get_vocab() == tokenizer.get_vocab():
            method, logged = "logit", {"kd_loss": "kd_loss", "ce_loss": "ce_loss"}
            trainer = sft_trainer(LogitDistillationTrainer, model, tokenizer, rows, settings, run.out_dir,
                                  teacher=_teacher(teacher_spec, settings), temperature=settings.temperature,
                                  alpha=settings.alpha)
        else:
            method, logged = "sequence", {}
            trainer = sft_trainer(ReplyLossSFTTrainer, model, tokenizer, rows, settings, run.out_dir)
        metrics = fit(trainer, run, show_progress, extra=logged)
        return run.finish(trainer, base_path, {**metrics, "method": method, "loss_on": loss_on(trainer)},
                          full=settings.full)


class LogitDistillationTrainer(ReplyLossSFTTrainer):
    """SFT whose loss mixes the teacher's softened distribution with the data (Hinton et al. 2015).

    loss = alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy, over reply tokens only;
    T^2 keeps the KL gradients on the scale of the cross-entropy's as T grows.
    """

    def __init__(self, *args: Any, teacher: torch.nn.Module, temperature: float, alpha: float,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.teacher = self.accelerator.prepare_model(teacher, evaluation_mode=True)
        self.temperature = temperature
        self.alpha = alpha

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: torch.Tensor | int | None = None) -> Any:
        logits, targets = reply_logits(model, inputs)
        with torch.no_grad():
            teacher_logits, _ = reply_logits(self.teacher, inputs)
        # Models that share a tokenizer can still pad their embedding tables to different sizes.
        vocab = min(logits.size(-1), teacher_logits.size(-1))
        student, teacher = logits[:, :vocab], teacher_logits[:, :vocab]
        count = num_items_in_batch if num_items_in_batch is not None else max(1, targets.numel())
        t = self.temperature
        ce = F.cross_entropy(student, targets, reduction="sum") / count
        kd = F.kl_div(F.log_softmax(student / t, dim=-1), F.log_softmax(teacher / t, dim=-1), log_target=True,
                      reduction="sum") / count * t * t
        self.log_batch(inputs, student, targets)
        mode = "train" if model.training else "eval"
        self._metrics[mode]["kd_loss"].append(kd.item())
        self._metrics[mode]["ce_loss"].append(ce.item())
        loss = self.alpha * kd + (1 - self.alpha) * ce
        return (loss, None) if return_outputs else loss


def _teacher(spec: ModelSpec, settings: DistillSettings) -> torch.nn.Module:
    """The teacher, frozen, with its adapter (if any) merged in."""
    model = load_model(spec.model, settings)
    if spec.adapter:
        model = PeftModel.from_pretrained(model, spec.adapter).merge_and_unload()
    model.requires_grad_(False)
    return model.eval()
