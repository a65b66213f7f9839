"""One entry to the three trainers, and where a run's folder goes when nobody names one."""

from __future__ import annotations

from pathlib import Path

from docflywheel.errors import InputError
from docflywheel.store import Store
from docflywheel.training.config import TrainerSettings
from docflywheel.training.distill import train_distill
from docflywheel.training.dpo import train_dpo
from docflywheel.training.runs import TrainingResult, run_id, training_spec
from docflywheel.training.sft import train_sft

KINDS = ("sft", "dpo", "distill")


def run_folder(root: Path, kind: str, dataset_id: str, base: str, settings: TrainerSettings,
               teacher: str | None = None) -> Path:
    """`root/KIND-RUNID`: the same inputs always name the same folder, so a killed run finds its checkpoints."""
    key = run_id(kind, dataset_id, training_spec(base), settings, training_spec(teacher) if teacher else None)
    return Path(root) / f"{kind}-{key[:16]}"


def train(store: Store, kind: str, dataset_id: str, base: str, out_dir: Path, settings: TrainerSettings, *,
          teacher: str | None = None, iteration: int | None = None, show_progress: bool = True) -> TrainingResult:
    """Run (or resume, or return the recorded result of) one training run of `kind` on a stored data set."""
    if kind == "sft":
        return train_sft(store, dataset_id, base, out_dir, settings, iteration=iteration,  # type: ignore[arg-type]
                         show_progress=show_progress)
    if kind == "dpo":
        return train_dpo(store, dataset_id, base, out_dir, settings, iteration=iteration,  # type: ignore[arg-type]
                         show_progress=show_progress)
    if kind == "distill":
        if teacher is None:
            raise InputError("distill needs a teacher: pass --teacher SPEC or set models.teacher")
        return train_distill(store, dataset_id, base, teacher, out_dir, settings,  # type: ignore[arg-type]
                             iteration=iteration, show_progress=show_progress)
    raise InputError(f"unknown training kind '{kind}': choose {', '.join(KINDS)}")
