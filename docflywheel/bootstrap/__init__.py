"""`docflywheel bootstrap`: train a tokenizer and a small Llama from scratch on local documentation.

corpus.py gathers "document this code" -> docstring examples, tokenizer.py learns a byte-level BPE with a
ChatML template, train.py trains the model; this module runs them in order and saves the result where
`AutoTokenizer` / `AutoModelForCausalLM.from_pretrained` load it, with a `bootstrap.json` model card.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import tokenizers
import torch
import transformers
from transformers import GenerationConfig
from transformers.utils import logging as hf_logging

from docflywheel.bootstrap.corpus import Corpus, build_corpus
from docflywheel.bootstrap.tokenizer import train_tokenizer
from docflywheel.bootstrap.train import SIZES, Size, build_model, encode, evaluate, parameters, train_loop
from docflywheel.errors import InputError
from docflywheel.threads import torch_threads

CARD = "bootstrap.json"

__all__ = ["CARD", "SIZES", "BootstrapResult", "bootstrap_model", "reproduce_command"]


@dataclass(frozen=True)
class BootstrapResult:
    """Where a bootstrapped model was saved and how its training went; losses are per answer token."""

    path: Path
    size: str
    parameters: int
    steps: int
    tokens_seen: int
    train_loss: float
    val_loss: float
    seconds: float
    seed: int


def reproduce_command(size: str, seed: int, steps: int, corpus_chars: int | None = None) -> str:
    """The CLI command that trains the same weights again."""
    command = f"docflywheel bootstrap --size {size} --seed {seed} --steps {steps}"
    if corpus_chars is not None and corpus_chars != SIZES[size].corpus_chars:
        command += f" --corpus-chars {corpus_chars}"
    return command


def bootstrap_model(size: str, out_dir: Path, *, seed: int = 0, steps: int | None = None,
                    minutes: float | None = None, corpus_chars: int | None = None,
                    show_progress: bool = True) -> BootstrapResult:
    """Train a `size` model (micro, tiny or small) from scratch and save it, with its tokenizer, in `out_dir`.

    steps: optimizer steps (default per size). minutes: a cap on wall time; the steps that fit are
    decided early in training and recorded, so `steps=` that count repeats the run bit for bit.
    corpus_chars: characters of examples to gather (default per size).
    """
    started = time.perf_counter()
    recipe = _recipe(size, steps, minutes, corpus_chars)
    out_dir = Path(out_dir).expanduser()
    partial = _prepare(out_dir)
    try:
        chars = corpus_chars if corpus_chars is not None else recipe.corpus_chars
        corpus = build_corpus(chars, seed, val_size=recipe.val_size)
        tokenizer = train_tokenizer(corpus.texts(), recipe.vocab, max_len=recipe.max_len)
        train_rows = encode(corpus.train, tokenizer, recipe.max_len)
        val_rows = encode(corpus.val, tokenizer, recipe.max_len)
        if not train_rows or not val_rows:
            raise InputError(f"no example fits in {recipe.max_len} tokens with room for its answer: "
                             "raise corpus_chars")
        model = build_model(recipe, tokenizer, seed)
        deadline = None if minutes is None else started + minutes * 60
        with torch_threads(recipe.threads):
            outcome = train_loop(model, train_rows, recipe, seed=seed, steps=steps or recipe.steps,
                                 deadline=deadline, pad_id=tokenizer.pad_token_id,
                                 show_progress=show_progress, label=f"bootstrap {size}")
            val_loss = evaluate(model, val_rows, recipe, tokenizer.pad_token_id)
        model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id,
                                                   pad_token_id=tokenizer.pad_token_id, max_new_tokens=128)
        with _progress_bars(show_progress):
            model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        result = BootstrapResult(path=out_dir, size=size, parameters=parameters(model), steps=outcome.steps,
                                 tokens_seen=outcome.tokens_seen, train_loss=outcome.train_loss,
                                 val_loss=val_loss, seconds=time.perf_counter() - started, seed=seed)
        card = {
            **{k: v for k, v in asdict(result).items() if k != "path"},
            "command": reproduce_command(size, seed, outcome.steps, corpus_chars),
            "minutes": minutes,
            "train_seconds": outcome.seconds,
            "recipe": asdict(recipe),
            "corpus": _corpus_card(corpus, chars, len(train_rows), len(val_rows)),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "tokenizers": tokenizers.__version__},
            "log": [asdict(entry) for entry in outcome.log],
        }
        (partial / CARD).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    partial.rename(out_dir)
    return result


def _recipe(size: str, steps: int | None, minutes: float | None, corpus_chars: int | None) -> Size:
    if size not in SIZES:
        raise InputError(f"unknown bootstrap size '{size}': choose one of {', '.join(SIZES)}")
    if steps is not None and steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    if minutes is not None and minutes <= 0:
        raise InputError(f"minutes must be positive, got {minutes}")
    if corpus_chars is not None and corpus_chars < 10_000:
        raise InputError(f"corpus_chars {corpus_chars} is too few to learn from: give at least 10000")
    return SIZES[size]


SHIPPED = Path(__file__).with_name("pretrained")  # models that ship with the package, each with its card


def provide_model(size: str, out_dir: Path, *, seed: int = 0, corpus_chars: int | None = None,
                  show_progress: bool = True) -> tuple[Path, str]:
    """A bootstrapped model in `out_dir`: the shipped one where it was made with these settings, else trained.

    Returns the folder and how it got there ("shipped", "cached" or "trained"). The shipped tiny model
    is what `docflywheel bootstrap --size tiny --seed 0 --steps 745` makes (its bootstrap.json says so).
    """
    out_dir = Path(out_dir).expanduser()
    if (out_dir / CARD).exists():
        return out_dir, "cached"
    if corpus_chars is None and copy_shipped(size, out_dir, seed=seed):
        return out_dir, "shipped"
    bootstrap_model(size, out_dir, seed=seed, corpus_chars=corpus_chars, show_progress=show_progress)
    return out_dir, "trained"


def copy_shipped(size: str, out_dir: Path, *, seed: int | None = None) -> bool:
    """Copy the model of `size` that ships with the package to `out_dir`; False when none ships (with `seed`)."""
    shipped = SHIPPED / size
    if not (shipped / CARD).exists():
        return False
    if seed is not None and json.loads((shipped / CARD).read_text(encoding="utf-8")).get("seed") != seed:
        return False
    partial = _prepare(out_dir)
    shutil.copytree(shipped, partial, dirs_exist_ok=True)
    if out_dir.exists():
        out_dir.rmdir()  # empty: _prepare refuses a folder with anything but a model in it
    partial.replace(out_dir)
    return True


def _prepare(out_dir: Path) -> Path:
    """A fresh sibling folder to write into; it replaces `out_dir` only once everything is saved."""
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / CARD).exists())):
        raise InputError(f"{out_dir} exists and is not a bootstrapped model: choose another folder or remove it")
    partial = out_dir.with_name(out_dir.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    return partial


@contextmanager
def _progress_bars(show: bool) -> Iterator[None]:
    """transformers' own progress bars (saving shards) follow `show` for the block."""
    was = hf_logging.is_progress_bar_enabled()
    if was and not show:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was and not show:
            hf_logging.enable_progress_bar()


def _corpus_card(corpus: Corpus, chars: int, train_rows: int, val_rows: int) -> dict[str, object]:
    return {"max_chars": chars, "chars": corpus.chars, "train_examples": train_rows, "val_examples": val_rows,
            "packages": corpus.packages, "fingerprint": corpus.fingerprint}
