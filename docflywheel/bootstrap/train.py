"""Train a small Llama on the bootstrap corpus: one plain torch loop, nanoGPT style, fp32 on the CPU."""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from docflywheel.bootstrap.corpus import Example

IGNORE = -100
MIN_RESPONSE_TOKENS = 8  # a truncated example keeps at least this much of its answer, else it is dropped


@dataclass(frozen=True)
class Size:
    """Architecture and training recipe of one bootstrap size."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    steps: int
    batch_rows: int
    lr: float
    warmup: int
    corpus_chars: int
    val_size: int
    max_len: int = 512
    # One thread: on a machine shared with other work, each op's second thread waits at a barrier
    # for a core and steps ran 3-100x slower with 2 threads than with 1 (tiny: 5.6 s against 0.83 s;
    # micro: 2.2 s against 0.03 s). Quiet, 2 threads were ~1.9x faster. The weights are the same.
    threads: int | None = 1
    weight_decay: float = 0.1
    grad_clip: float = 1.0


SIZES: dict[str, Size] = {
    "micro": Size(hidden=64, layers=2, heads=2, intermediate=192, vocab=1024, steps=60, batch_rows=4,
                  lr=5e-3, warmup=5, corpus_chars=200_000, val_size=16, max_len=256),
    "tiny": Size(hidden=128, layers=4, heads=4, intermediate=384, vocab=8192, steps=280, batch_rows=8,
                 lr=3e-3, warmup=20, corpus_chars=6_000_000, val_size=200),
    "small": Size(hidden=256, layers=6, heads=8, intermediate=768, vocab=8192, steps=200, batch_rows=8,
                  lr=2e-3, warmup=20, corpus_chars=6_000_000, val_size=200),
}


def llama_config(size: Size, tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    """The model's config; embeddings are tied, which halves the parameters of models this small."""
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=size.hidden,
        intermediate_size=size.intermediate,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        num_key_value_heads=size.heads,
        max_position_embeddings=size.max_len,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attention_dropout=0.0,
        dtype="float32",
    )


def encode(examples: Sequence[Example], tokenizer: PreTrainedTokenizerFast,
           max_len: int) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per example: labels are the ids on the answer and IGNORE on the prompt."""
    batch = tokenizer.apply_chat_template([e.messages() for e in examples], return_dict=True,
                                          return_assistant_tokens_mask=True, truncation=True, max_length=max_len)
    encoded = []
    for ids, mask in zip(batch["input_ids"], batch["assistant_masks"], strict=True):
        if sum(mask) >= MIN_RESPONSE_TOKENS:
            encoded.append((ids, [i if m else IGNORE for i, m in zip(ids, mask, strict=True)]))
    return encoded


@dataclass
class Rows:
    """Whole examples packed into rows; positions restart at 0 for each example."""

    ids: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    positions: list[list[int]] = field(default_factory=list)

    def add(self, ids: list[int], labels: list[int], max_len: int) -> None:
        if not self.ids or len(self.ids[-1]) + len(ids) > max_len:
            self.ids.append([])
            self.labels.append([])
            self.positions.append([])
        self.ids[-1].extend(ids)
        self.labels[-1].extend(labels)
        self.positions[-1].extend(range(len(ids)))


def pack(encoded: Sequence[tuple[list[int], list[int]]], max_len: int) -> Rows:
    """Greedy packing in the given order; an example never straddles two rows."""
    rows = Rows()
    for ids, labels in encoded:
        rows.add(ids, labels, max_len)
    return rows


def collate(rows: Rows, index: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Tensors for some rows, padded to the longest; the padding is a segment of its own, never learned."""
    width = max(len(rows.ids[i]) for i in index)
    ids, labels, positions = [], [], []
    for i in index:
        gap = width - len(rows.ids[i])
        ids.append(rows.ids[i] + [pad_id] * gap)
        labels.append(rows.labels[i] + [IGNORE] * gap)
        positions.append(rows.positions[i] + list(range(gap)))
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "position_ids": torch.tensor(positions)}


def batches(encoded: Sequence[tuple[list[int], list[int]]], size: Size, seed: int,
            pad_id: int) -> Iterator[dict[str, torch.Tensor]]:
    """An endless stream of batches; each epoch repacks the examples in a fresh seeded order."""
    for epoch in itertools.count():
        order = list(range(len(encoded)))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        rows = pack([encoded[i] for i in order], size.max_len)
        full = max(1, len(rows.ids) // size.batch_rows)
        for start in range(0, full * size.batch_rows, size.batch_rows):
            yield collate(rows, range(start, min(start + size.batch_rows, len(rows.ids))), pad_id)


def masked_loss(model: LlamaForCausalLM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Mean next-token loss over answer tokens, and how many there were.

    With no attention mask, transformers reads the restarting position ids as packed sequences and
    keeps attention inside each example. Only answer positions go through the LM head: at this width
    the head costs as much as all the layers, and prompt logits would be thrown away.
    """
    hidden = model.model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                         use_cache=False).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE
    logits = model.lm_head(hidden[:, :-1][keep])
    return F.cross_entropy(logits, targets[keep]), int(keep.sum())


def lr_at(step: int, total: int, size: Size) -> float:
    """Linear warmup, then cosine decay to a tenth of the peak at `total` steps."""
    if step < size.warmup:
        return size.lr * (step + 1) / size.warmup
    progress = min(1.0, (step - size.warmup) / max(1, total - size.warmup))
    return size.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))


def optimizer(model: LlamaForCausalLM, size: Size) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not norms), as in nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": size.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=size.lr, betas=(0.9, 0.95), eps=1e-8)


@dataclass(frozen=True)
class LogEntry:
    step: int
    loss: float
    lr: float
    tokens_per_s: float


@dataclass(frozen=True)
class TrainOutcome:
    """What a training run did; `steps` is what ran, which `--steps` must repeat to reproduce it.

    `train_loss` is the mean over the last tenth of the steps; `log` holds about 50 entries.
    """

    steps: int
    tokens_seen: int
    train_loss: float
    seconds: float
    log: list[LogEntry]


def train_loop(model: LlamaForCausalLM, encoded: Sequence[tuple[list[int], list[int]]], size: Size, *,
               seed: int, steps: int, deadline: float | None, pad_id: int, show_progress: bool,
               label: str) -> TrainOutcome:
    """Train in place for `steps`, or fewer if a `deadline` (perf_counter seconds) says so.

    With a deadline, the first few steps (all in warmup, so their learning rate does not depend on
    the total) time the pace, and then the step count is fixed once: the schedule, and so the
    weights, depend only on the count that ran, and `steps=count` reproduces them.
    """
    probe = max(1, min(size.warmup, 10)) if deadline is not None else None
    total = steps
    opt = optimizer(model, size)
    stream = batches(encoded, size, seed, pad_id)
    log: list[LogEntry] = []
    losses: list[float] = []
    tokens = 0
    model.train()
    start = time.perf_counter()
    with _progress(show_progress) as progress:
        bar = progress.add_task(label, total=None if probe else total, loss=float("nan"), tps=0.0)
        step = 0
        while step < total:
            if step == probe and deadline is not None:
                pace = (time.perf_counter() - start) / step
                total = min(total, step + int(max(0.0, deadline - time.perf_counter()) / pace))
                progress.update(bar, total=total)
                if step >= total:
                    break
            lr = lr_at(step, total, size)
            for group in opt.param_groups:
                group["lr"] = lr
            batch = next(stream)
            loss, _ = masked_loss(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), size.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            tokens += int((batch["input_ids"] != pad_id).sum())
            losses.append(loss.item())
            step += 1
            rate = tokens / max(1e-9, time.perf_counter() - start)
            every = max(1, total // 50)
            if step == 1 or step % every == 0 or step == total:
                log.append(LogEntry(step, _mean(losses[-every:]), lr, rate))
            progress.update(bar, advance=1, loss=log[-1].loss, tps=rate)
    return TrainOutcome(steps=step, tokens_seen=tokens, train_loss=_mean(losses[-max(1, step // 10):]),
                        seconds=time.perf_counter() - start, log=log)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


@torch.no_grad()
def evaluate(model: LlamaForCausalLM, encoded: Sequence[tuple[list[int], list[int]]], size: Size,
             pad_id: int) -> float:
    """Mean loss per answer token over `encoded`, in its given order."""
    model.eval()
    rows = pack(encoded, size.max_len)
    total, count = 0.0, 0
    for start in range(0, len(rows.ids), size.batch_rows):
        batch = collate(rows, range(start, min(start + size.batch_rows, len(rows.ids))), pad_id)
        loss, n = masked_loss(model, batch)
        total += loss.item() * n
        count += n
    model.train()
    return total / max(1, count)


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"), TextColumn("{task.fields[tps]:,.0f} tok/s"),
        TimeElapsedColumn(), disable=not show, transient=False, console=Console(stderr=True),
    )


def build_model(size: Size, tokenizer: PreTrainedTokenizerFast, seed: int) -> LlamaForCausalLM:
    """A freshly initialised model drawn with `seed`; the global random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(llama_config(size, tokenizer))


def parameters(model: torch.nn.Module) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())

