"""Tokens/s of our SFT and DPO runs against plain TRL scripts on the same data and model, in one run.

    python bench/training.py [--model PATH] [--rows 64] [--epochs 2] [--threads 1] [--kinds sft,dpo] [--repeats 1]

Plain TRL is SFTTrainer / DPOTrainer with their defaults, except the CPU fixes FINDINGS.md lists
(use_cpu, no bf16: emulated, about 15x slower here; no gradient checkpointing), and the same LoRA,
learning rate, batch size, epochs, max length and thread count as ours. Ours batches rows of similar
length, runs the LM head over reply tokens only (on the CPU) and computes DPO's reference log-probs
once. Both count the tokens of the data set's rows (prompt and reply; for DPO both pairs; rows fit
in max_length, so nothing is cut) once per epoch, over the wall time of the whole run (loading, data
preparation, training, saving) and over the training loop alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.trainer_callback import PrinterCallback
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

from docflywheel.bootstrap.corpus import build_corpus
from docflywheel.config import ModelsConfig
from docflywheel.records import content_id
from docflywheel.store import Store
from docflywheel.training.config import DPOSettings, SFTSettings, TrainerSettings
from docflywheel.training.dpo import train_dpo
from docflywheel.training.runs import lora_config, quiet
from docflywheel.training.sft import train_sft


@dataclass
class Row:
    kind: str
    tokens: int
    ours_s: float
    ours_loop_s: float
    plain_s: float
    plain_loop_s: float


def data(rows: int, seed: int, tokenizer: Any, max_length: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """SFT rows of real "document this code" examples that fit in max_length (so neither side truncates),
    and DPO rows that reject the next example's reply."""
    fits = [e for e in build_corpus(max(200_000, rows * 3_000), seed, val_size=1).train
            if len(tokenizer.apply_chat_template(e.messages(), return_dict=False)) <= max_length // 2]
    examples = fits[:rows]
    sft = [{"messages": e.messages()} for e in examples]
    dpo = [{"prompt": e.messages()[:1], "chosen": e.messages()[1:],
            "rejected": [{"role": "assistant", "content": examples[(i + 1) % len(examples)].response}]}
           for i, e in enumerate(examples)]
    return sft, dpo


def tokens(tokenizer: Any, kind: str, rows: list[dict[str, Any]]) -> int:
    if kind == "sft":
        return sum(len(tokenizer.apply_chat_template(r["messages"], return_dict=False)) for r in rows)
    return sum(len(tokenizer.apply_chat_template(r["prompt"] + r[side], return_dict=False))
               for r in rows for side in ("chosen", "rejected"))


def ours(kind: str, model: Path, rows: list[dict[str, Any]], settings: TrainerSettings, folder: Path) -> tuple[float, float]:
    store = Store(folder / "bench.duckdb")
    store.init()
    dataset = content_id("bench", kind, rows)
    store.insert("datasets", [{"id": dataset, "name": "bench", "kind": kind, "version": 1, "row_count": len(rows),
                               "content_hash": dataset}])
    store.insert("dataset_rows", [{"id": content_id(dataset, i), "dataset_id": dataset, "position": i, "data": row}
                                  for i, row in enumerate(rows)])
    train = train_sft if kind == "sft" else train_dpo
    started = time.perf_counter()
    result = train(store, dataset, f"hf:{model}", folder / "ours", settings, show_progress=False)  # type: ignore[arg-type]
    return time.perf_counter() - started, result.metrics["train_runtime_s"]


def plain(kind: str, model_path: Path, rows: list[dict[str, Any]], settings: TrainerSettings,
          folder: Path) -> tuple[float, float]:
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    common = {"output_dir": str(folder / "plain"), "use_cpu": True, "bf16": False, "gradient_checkpointing": False,
              "num_train_epochs": settings.epochs, "max_steps": settings.max_steps or -1,
              "per_device_train_batch_size": settings.batch_size, "learning_rate": settings.learning_rate,
              "max_length": settings.max_length, "seed": settings.seed, "report_to": "none", "save_strategy": "no"}
    if kind == "sft":
        trainer: Any = SFTTrainer(model=model, args=SFTConfig(**common), train_dataset=Dataset.from_list(rows),
                                  processing_class=tokenizer, peft_config=lora_config(settings))
    else:
        trainer = DPOTrainer(model=model, args=DPOConfig(**common), train_dataset=Dataset.from_list(rows),
                             processing_class=tokenizer, peft_config=lora_config(settings))
    trainer.remove_callback(PrinterCallback)  # it prints every log line once tqdm is off
    output = trainer.train()
    trainer.save_model(str(folder / "plain" / "adapter"))
    return time.perf_counter() - started, output.metrics["train_runtime"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ModelsConfig().cache_dir / "tiny",
                        help="a local model folder (default: the bootstrapped tiny model)")
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads, the same for both")
    parser.add_argument("--kinds", default="sft,dpo", help="comma-separated: sft, dpo")
    parser.add_argument("--repeats", type=int, default=1, help="runs per side, alternating; the fastest counts")
    args = parser.parse_args()
    if not (args.model / "config.json").exists():
        raise SystemExit(f"no model at {args.model}: run `docflywheel bootstrap --size tiny` or pass --model PATH")
    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    sft_rows, dpo_rows = data(args.rows, 0, tokenizer, SFTSettings().max_length)
    results = []
    with quiet():  # for both: progress bars and warnings only
        for kind in args.kinds.split(","):
            rows = sft_rows if kind == "sft" else dpo_rows
            settings = (SFTSettings if kind == "sft" else DPOSettings)(epochs=args.epochs, threads=args.threads)
            with tempfile.TemporaryDirectory(prefix="bench-training-") as scratch:
                # Warm-up: the first run in a process pays for lazy imports and first-call kernels.
                warm = settings.model_copy(update={"max_steps": 1})
                plain(kind, args.model, rows[:16], warm, Path(scratch) / "warm-plain")
                ours(kind, args.model, rows[:16], warm, Path(scratch) / "warm-ours")
                timings: dict[str, list[tuple[float, float]]] = {"plain": [], "ours": []}
                for repeat in range(args.repeats):
                    timings["plain"].append(plain(kind, args.model, rows, settings, Path(scratch) / f"plain{repeat}"))
                    timings["ours"].append(ours(kind, args.model, rows, settings, Path(scratch) / f"ours{repeat}"))
            counted = int(tokens(tokenizer, kind, rows) * args.epochs)
            (plain_s, plain_loop), (ours_s, ours_loop) = min(timings["plain"]), min(timings["ours"])
            results.append(Row(kind, counted, ours_s, ours_loop, plain_s, plain_loop))
    print(f"\n{args.rows} rows x {args.epochs:g} epochs, LoRA, {args.threads} thread(s), model {args.model}")
    print(f"{'kind':<6}{'tokens':>9}{'ours tok/s':>12}{'plain tok/s':>13}{'ratio':>8}"
          f"{'loop ours':>11}{'loop plain':>12}{'loop ratio':>12}")
    for r in results:
        print(f"{r.kind:<6}{r.tokens:>9,}{r.tokens / r.ours_s:>12,.0f}{r.tokens / r.plain_s:>13,.0f}"
              f"{r.plain_s / r.ours_s:>7.2f}x{r.tokens / r.ours_loop_s:>11,.0f}{r.tokens / r.plain_loop_s:>12,.0f}"
              f"{r.plain_loop_s / r.ours_loop_s:>11.2f}x")


if __name__ == "__main__":
    main()
