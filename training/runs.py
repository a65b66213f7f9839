"""What the three trainers share: data sets from the store, models from specs, and the recorded run.

A run's id is a content hash of its kind, data set, base model and settings, so asking for the same run
again is recognised: a finished run returns its stored result; a run that was killed (still `running`)
or failed resumes from the last complete Trainer checkpoint in its folder.

A base spec with an adapter (`hf:BASE#ADAPTER`, the champion of the last iteration) is merged into its
base weights first and saved as `<run>/base`; the new LoRA goes on top of that. So the new model is
`hf:<run>/base#<run>/adapter`, and DPO's reference (TRL uses the model with the adapter disabled) is
exactly the model the run starts from, never the older base underneath it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from transformers import (AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase, Trainer,
                          TrainerCallback)
from transformers.trainer_callback import PrinterCallback

from docflywheel.errors import InputError, ModelError
from docflywheel.models.base import ModelSpec, parse_spec
from docflywheel.models.hf import pick_device
from docflywheel.records import content_id
from docflywheel.store import Store
from docflywheel.threads import torch_threads
from docflywheel.training.config import TrainerSettings


@dataclass(frozen=True)
class TrainingResult:
    """A finished run: `spec` loads the new model with `docflywheel.models.load_backend`.

    reused: the run was finished before this call, nothing was trained.
    """

    run_id: str
    kind: str
    spec: str
    artifact_path: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    reused: bool = False


# -- inputs ----------------------------------------------------------------------------------------

def training_spec(base: str) -> ModelSpec:
    """A model spec that transformers can train in this process; local paths become absolute."""
    backend = base.partition(":")[0]
    if backend not in ("hf", "vllm"):
        raise InputError(f"model spec '{base}' cannot be trained in this process: write hf:PATH_OR_HUB_ID[#ADAPTER]")
    spec = parse_spec(base, Path.cwd())
    local = Path(spec.model).expanduser()
    if local.exists():
        spec = replace(spec, model=str(local.resolve()))
    elif local.is_absolute() or spec.model.startswith((".", "~")):
        raise ModelError(f"model folder '{spec.model}' does not exist: fix the path, give a hub id, or bootstrap "
                         "the model (`docflywheel bootstrap --size NAME`)")
    if spec.adapter and Path(spec.adapter).expanduser().exists():
        spec = replace(spec, adapter=str(Path(spec.adapter).expanduser().resolve()))
    return spec


def read_rows(store: Store, dataset_id: str, kinds: Sequence[str], fields: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of a stored data set in order, holding only `fields` (each a list of chat messages)."""
    found = store.select("datasets", id=dataset_id)
    if not found:
        raise InputError(f"no data set '{dataset_id}' in {store.path}: give an id from table `datasets` "
                         "(curation writes them)")
    if found[0]["kind"] not in kinds:
        raise InputError(f"data set '{dataset_id}' is of kind {found[0]['kind']}, this trainer takes "
                         f"{' or '.join(kinds)}: give a data set of that kind")
    rows = []
    for stored in store.select("dataset_rows", dataset_id=dataset_id, order_by="position"):
        data = json.loads(stored["data"])
        for name in fields:
            messages = data.get(name) if isinstance(data, dict) else None
            if not isinstance(messages, list) or not messages or not all(
                    isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                    for m in messages):
                raise InputError(f"data set '{dataset_id}' row {stored['position']}: field '{name}' must be a "
                                 "non-empty list of {role, content} messages: rebuild the data set")
        if "messages" in fields and data["messages"][-1]["role"] != "assistant":
            raise InputError(f"data set '{dataset_id}' row {stored['position']}: the last message must be the "
                             "assistant's reply: rebuild the data set")
        rows.append({name: data[name] for name in fields})
    if not rows:
        raise InputError(f"data set '{dataset_id}' has no rows: rebuild it with a looser filter")
    return rows


def plain_weights(spec: ModelSpec, out_dir: Path) -> str:
    """Path or hub id of weights with no adapter: the spec's own, or its adapter merged into `out_dir/base`."""
    if not spec.adapter:
        return spec.model
    target = out_dir / "base"
    if (target / "config.json").exists():
        return str(target)
    from peft import PeftModel

    try:
        model = AutoModelForCausalLM.from_pretrained(spec.model, dtype="auto")
        merged = PeftModel.from_pretrained(model, spec.adapter).merge_and_unload()
        tokenizer = AutoTokenizer.from_pretrained(spec.model)
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot merge adapter '{spec.adapter}' into '{spec.model}': {_first_line(error)}") from None
    partial = out_dir / "base.partial"
    shutil.rmtree(partial, ignore_errors=True)
    merged.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(target)
    return str(target)


def load_tokenizer(path: str) -> PreTrainedTokenizerBase:
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot load the tokenizer of '{path}': {_first_line(error)}") from None
    if tokenizer.chat_template is None:
        raise ModelError(f"model '{path}' has no chat template: train a chat model or add `chat_template` "
                         "to its tokenizer_config.json")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(path: str, settings: TrainerSettings) -> PreTrainedModel:
    """The model in fp32 on the CPU (bf16 is emulated there), in its own dtype on a GPU."""
    dtype: Any = torch.float32 if pick_device(settings.device).type == "cpu" else "auto"
    try:
        return AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot load model '{path}': {_first_line(error)} "
                         "(give a folder with config.json and weights, or a hub id)") from None


def context_length(model: PreTrainedModel, settings: TrainerSettings) -> int:
    """settings.max_length, capped at the positions the model was trained for."""
    return min(settings.max_length, getattr(model.config, "max_position_embeddings", None) or settings.max_length)


# -- TRL arguments -----------------------------------------------------------------------------------

def trainer_arguments(settings: TrainerSettings, out_dir: Path) -> dict[str, Any]:
    """The TrainingArguments every TRL config of ours takes, from our settings."""
    device = pick_device(settings.device)
    bf16 = settings.bf16 if settings.bf16 is not None else (
        device.type == "cuda" and torch.cuda.is_bf16_supported())
    return {
        "output_dir": str(out_dir), "num_train_epochs": settings.epochs, "max_steps": settings.max_steps or -1,
        "learning_rate": settings.learning_rate, "warmup_steps": settings.warmup,
        "per_device_train_batch_size": settings.batch_size, "gradient_accumulation_steps": settings.grad_accum,
        "seed": settings.seed, "data_seed": settings.seed, "logging_steps": settings.logging_steps,
        "save_strategy": "steps", "save_steps": settings.save_steps, "save_total_limit": 2,
        # TRL turns on bf16 and gradient checkpointing by default: 15x slower on this CPU (FINDINGS.md).
        "use_cpu": device.type == "cpu", "bf16": bf16, "gradient_checkpointing": settings.gradient_checkpointing,
        "report_to": "none", "disable_tqdm": True,
    }


def lora_config(settings: TrainerSettings) -> Any:
    """PEFT's LoraConfig from our settings, or None for a full fine-tune."""
    if settings.full:
        return None
    from peft import LoraConfig

    lora = settings.lora
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=lora.target_modules, task_type="CAUSAL_LM")


# -- the recorded run --------------------------------------------------------------------------------

@dataclass
class Run:
    """One row of `training_runs` and the folder its checkpoints and outputs go to."""

    store: Store
    id: str
    kind: str
    base: ModelSpec
    out_dir: Path
    finished: TrainingResult | None = None
    resume_from: Path | None = None

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Marks the run failed (with the error's first line) if the block raises, then re-raises."""
        try:
            yield
        except BaseException as error:
            self.store.update("training_runs", self.id, {"status": "failed",
                                                         "metrics": {"error": _first_line(error)}})
            raise

    @contextmanager
    def loaded(self, settings: TrainerSettings) -> Iterator[tuple[str, PreTrainedTokenizerBase, PreTrainedModel]]:
        """The run's starting point, recorded as failed if the block raises: (weights path, tokenizer, model).

        A base with an adapter is merged first (`plain_weights`); TRL's and transformers' chatter is
        silenced and torch uses `settings.threads` threads for the block.
        """
        with self.recording(), quiet(), torch_threads(settings.threads):
            base_path = plain_weights(self.base, self.out_dir)
            yield base_path, load_tokenizer(base_path), load_model(base_path, settings)

    def finish(self, trainer: Trainer, base_path: str, metrics: dict[str, Any], *, full: bool) -> TrainingResult:
        """Save the adapter (or the full model), record the run as done and the model as a challenger."""
        target = self.out_dir / ("model" if full else "adapter")
        trainer.save_model(str(target))
        spec = ModelSpec(self.base.backend, str(target)) if full else ModelSpec(
            self.base.backend, base_path, adapter=str(target))
        # The model row goes in before the run is marked done: a run killed between the two resumes (its last
        # checkpoint is still there), while a done run without its model would fail every rerun in open_run.
        self.store.insert("models", [{"id": content_id("model", str(spec)), "spec": str(spec),
                                      "base_model": spec.model, "adapter": spec.adapter,
                                      "version": f"{self.kind}-{self.id[:8]}", "training_run_id": self.id,
                                      "role": "challenger"}])
        self.store.update("training_runs", self.id, {"status": "done", "metrics": metrics,
                                                     "artifact_path": str(self.out_dir)})
        # Checkpoints only serve a resume, and a full fine-tune no longer needs the merged base it started from.
        for leftover in [*self.out_dir.glob("checkpoint-*"), *([self.out_dir / "base"] if full else [])]:
            shutil.rmtree(leftover, ignore_errors=True)
        return TrainingResult(self.id, self.kind, str(spec), self.out_dir, metrics)


def run_config(settings: TrainerSettings, teacher: ModelSpec | None = None) -> dict[str, Any]:
    """What defines a run besides its kind, data set and base: the settings (and the teacher)."""
    return {**settings.model_dump(mode="json"), **({"teacher": str(teacher)} if teacher else {})}


def run_id(kind: str, dataset_id: str, base: ModelSpec, settings: TrainerSettings,
           teacher: ModelSpec | None = None) -> str:
    """The id the run of these inputs has (or will have) in `training_runs`."""
    return content_id("training_run", kind, dataset_id, str(base), run_config(settings, teacher))


def open_run(store: Store, kind: str, dataset_id: str, base: ModelSpec, settings: TrainerSettings, out_dir: Path,
             iteration: int | None, teacher: ModelSpec | None = None) -> Run:
    """The run these inputs define: finished, to resume, or new (recorded as running)."""
    key = run_id(kind, dataset_id, base, settings, teacher)
    stored = store.select("training_runs", id=key)
    if stored and stored[0]["status"] == "done":
        model = store.select("models", training_run_id=key, limit=1)
        folder = Path(stored[0]["artifact_path"])
        result = TrainingResult(key, kind, model[0]["spec"], folder, json.loads(stored[0]["metrics"]), reused=True)
        return Run(store, key, kind, base, folder, finished=result)
    if stored:
        # A killed or failed run resumes in its own folder, where its checkpoints are.
        folder = Path(stored[0]["artifact_path"])
        store.update("training_runs", key, {"status": "running"})
    else:
        folder = Path(out_dir).expanduser().resolve()
        if folder.exists() and any(folder.iterdir()):
            other = store.select("training_runs", artifact_path=str(folder), limit=1)
            holds = f"holds training run {other[0]['id']} ({other[0]['status']})" if other else "is not empty"
            raise InputError(f"{folder} {holds}: remove it or choose another output folder")
        store.insert("training_runs", [{"id": key, "kind": kind, "dataset_id": dataset_id, "base_model": str(base),
                                        "config": run_config(settings, teacher), "status": "running",
                                        "artifact_path": str(folder), "iteration": iteration}])
    folder.mkdir(parents=True, exist_ok=True)
    return Run(store, key, kind, base, folder, resume_from=last_checkpoint(folder))


def last_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint whose trainer state was written (the Trainer writes it last)."""
    complete = []
    for path in folder.glob("checkpoint-*"):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if path.name.removeprefix("checkpoint-").isdigit():
            complete.append(path)
    return max(complete, key=lambda p: int(p.name.removeprefix("checkpoint-")), default=None)


# -- training ------------------------------------------------------------------------------------------

def fit(trainer: Trainer, run: Run, show_progress: bool, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Train (from the last checkpoint when there is one) and return the metrics to record.

    extra: logged keys to keep on the curve, as {trainer's name: our name}.
    """
    trainer.remove_callback(PrinterCallback)
    with _progress(show_progress) as progress:
        trainer.add_callback(_ProgressCallback(progress, f"{run.kind} {run.id[:8]}"))
        trainer.train(resume_from_checkpoint=str(run.resume_from) if run.resume_from else None)
    history = trainer.state.log_history
    keep = {"loss": "loss", **(extra or {})}
    curve = [{"step": entry["step"], **{ours: entry[theirs] for theirs, ours in keep.items() if theirs in entry}}
             for entry in history if "loss" in entry]
    summary = next((entry for entry in reversed(history) if "train_runtime" in entry), {})
    # Tokens trained on (padding excluded, as TRL counts them) per second of the training loop.
    tokens = next((entry["num_tokens"] for entry in reversed(history) if "num_tokens" in entry), None)
    runtime = summary.get("train_runtime")
    metrics: dict[str, Any] = {"steps": trainer.state.global_step, "curve": curve,
                               "final_loss": curve[-1]["loss"] if curve else None, "train_runtime_s": runtime,
                               "tokens_per_s": round(tokens / runtime, 1) if tokens and runtime else None,
                               "resumed_from_step": int(run.resume_from.name.removeprefix("checkpoint-"))
                               if run.resume_from else None}
    if curve:
        metrics.update({ours: curve[-1][ours] for ours in (extra or {}).values() if ours in curve[-1]})
    return metrics


class _ProgressCallback(TrainerCallback):
    """Step and loss on a rich progress bar."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress = progress
        self.label = label
        self.task: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.task = self.progress.add_task(self.label, total=state.max_steps, completed=state.global_step,
                                           loss=math.nan)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None,
               **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.progress.update(self.task, loss=logs["loss"])


def _progress(show: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(), disable=not show,
                    console=Console(stderr=True))


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the progress bars and warnings of transformers, datasets and TRL for the block."""
    import datasets
    from transformers.utils import logging as hf_logging

    verbosity, hf_bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    datasets_bars = datasets.is_progress_bar_enabled()
    trl_logger = logging.getLogger("trl")
    trl_level, tqdm_env = trl_logger.level, os.environ.get("TQDM_DISABLE")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    trl_logger.setLevel(logging.ERROR)
    os.environ["TQDM_DISABLE"] = "1"  # accelerate's tqdm (DPO's reference pass) reads only this
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if hf_bars:
            hf_logging.enable_progress_bar()
        if datasets_bars:
            datasets.enable_progress_bars()
        trl_logger.setLevel(trl_level)
        if tqdm_env is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = tqdm_env


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
