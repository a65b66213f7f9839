"""The transformers backend: a causal LM in this process, batched with left padding (the default)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from inspect import signature
from itertools import groupby
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from docflywheel.errors import ModelError
from docflywheel.models.base import Completion, GenerationRequest, ModelSpec
from docflywheel.threads import torch_threads


def pick_device(device: str) -> torch.device:
    """`auto` is cuda when a GPU is visible, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ModelError(f"device '{device}' is not auto, cpu or cuda: set generation.device to one of them")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device '{device}' asked for but no GPU is visible: set generation.device to cpu or auto")
    return torch.device(device)


class HFBackend:
    """Chat generation through `AutoModelForCausalLM.generate`, `batch_size` prompts per call.

    JSON schemas cannot be enforced here: callers parse and repair the reply.
    """

    supports_json_schema = False

    def __init__(self, spec: ModelSpec, *, batch_size: int = 16, device: str = "auto", seed: int = 0,
                 threads: int | None = 1) -> None:
        """threads: torch intra-op CPU threads while generating (None: torch's default). With two, every op of a
        small model waits at a barrier for the second core, and whenever anything else runs on a 2-core
        machine a step takes 3-100x longer (16 prompts to the tiny model: 8.5 s against 0.24 s)."""
        self.spec = spec
        self.batch_size = batch_size
        self.seed = seed
        self.threads = threads
        self.device = pick_device(device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(spec.model)
            if self.tokenizer.chat_template is None:
                raise ModelError(f"model '{spec.model}' has no chat template: use a chat model or add "
                                 "`chat_template` to its tokenizer_config.json")
            dtype: Any = torch.float32 if self.device.type == "cpu" else "auto"
            model = AutoModelForCausalLM.from_pretrained(spec.model, dtype=dtype)
        except (OSError, ValueError) as error:
            raise ModelError(f"cannot load model '{spec.model}': {_first_line(error)} "
                             "(give a folder with config.json and weights, or a hub id)") from None
        if spec.adapter:
            model = _with_adapter(model, spec.adapter)
        self.model = model.to(self.device).eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.stop_ids = _stop_ids(self.model, self.tokenizer)
        self.context = getattr(self.model.config, "max_position_embeddings", None)
        # The prompt's last position is the only one whose logits are read; most causal LMs can skip the rest.
        forward = self.model.get_base_model().forward if spec.adapter else self.model.forward
        self._last_logits_only = {"logits_to_keep": 1} if "logits_to_keep" in signature(forward).parameters else {}

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """One completion per request, in order; requests with the same max_new_tokens share batches."""
        prompts = [self._encode(request) for request in requests]
        results: list[Completion | None] = [None] * len(requests)
        # Similar lengths in a batch waste less work on padding.
        order = sorted(range(len(requests)), key=lambda i: (requests[i].max_new_tokens, len(prompts[i])))
        for _, group in groupby(order, key=lambda i: requests[i].max_new_tokens):
            indices = list(group)
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start:start + self.batch_size]
                batch = self._generate_batch([requests[i] for i in chunk], [prompts[i] for i in chunk])
                for i, completion in zip(chunk, batch, strict=True):
                    results[i] = completion
        return [completion for completion in results if completion is not None]

    def close(self) -> None:
        del self.model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _encode(self, request: GenerationRequest) -> list[int]:
        text = self.tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)
        # The template already holds any special tokens the model expects.
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        keep = self._budget(request.max_new_tokens)[0]
        return ids[-keep:] if keep is not None and len(ids) > keep else ids

    def _budget(self, max_new_tokens: int) -> tuple[int | None, int]:
        """(prompt tokens kept, new tokens) so that both fit in the model's context."""
        if self.context is None:
            return None, max_new_tokens
        new = min(max_new_tokens, self.context - 1)
        return self.context - new, new

    def _generate_batch(self, requests: list[GenerationRequest], prompts: list[list[int]]) -> list[Completion]:
        started = time.perf_counter()
        try:
            with torch_threads(self.threads):
                rows = self._decode(prompts, self._budget(requests[0].max_new_tokens)[1],
                                    RowSampler(requests, self.seed, self.device))
        except (RuntimeError, ValueError) as error:
            elapsed = time.perf_counter() - started
            return [Completion("", len(ids), 0, elapsed, "error", f"generation failed: {_first_line(error)}")
                    for ids in prompts]
        elapsed = time.perf_counter() - started
        completions = []
        for ids, new in zip(prompts, rows, strict=True):
            text = str(self.tokenizer.decode(new, skip_special_tokens=True))
            stopped = bool(new) and new[-1] in self.stop_ids
            completions.append(Completion(text, len(ids), len(new), elapsed, "stop" if stopped else "length"))
        return completions

    @torch.inference_mode()
    def _decode(self, prompts: list[list[int]], max_new_tokens: int, sampler: RowSampler) -> list[list[int]]:
        """New tokens of each left-padded prompt, the stop token included; a row leaves the batch when it stops.

        `generate` keeps finished rows in the batch until the longest ends, so one long answer made fifteen
        short ones pay for every step it took; here each step computes only the rows still writing.
        """
        width = max(len(ids) for ids in prompts)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in prompts], device=self.device)
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts], device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        stop = torch.tensor(self.stop_ids, device=self.device)
        active = torch.arange(len(prompts), device=self.device)
        out: list[list[int]] = [[] for _ in prompts]
        output = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True,
                            **self._last_logits_only)
        cache, following = output.past_key_values, positions[:, -1:] + 1
        for step in range(max_new_tokens):
            tokens = sampler.pick(output.logits[:, -1, :], active)
            for row, token in zip(active.tolist(), tokens.tolist(), strict=True):
                out[row].append(token)
            writing = ~torch.isin(tokens, stop)
            if step == max_new_tokens - 1 or not writing.any():
                break
            if not writing.all():
                keep = writing.nonzero().squeeze(1)
                cache.reorder_cache(keep)
                active, mask, tokens, following = active[keep], mask[keep], tokens[keep], following[keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            output = self.model(input_ids=tokens[:, None], attention_mask=mask, position_ids=following,
                                past_key_values=cache, use_cache=True)
            following = following + 1
        return out


class RowSampler:
    """Picks each row's next token: argmax when greedy, else sampled with the row's own temperature, top_p and
    seeded generator, so that a request's sample depends on the request alone, never on its batch mates.
    """

    def __init__(self, requests: Sequence[GenerationRequest], default_seed: int, device: torch.device) -> None:
        self.rows = []
        for request in requests:
            generator = None
            if request.temperature > 0:
                generator = torch.Generator(device=device)
                generator.manual_seed(request.seed if request.seed is not None else default_seed)
            self.rows.append((request.temperature, request.top_p, generator))

    def pick(self, scores: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The next token of each row; scores[i] belongs to request rows[i]."""
        tokens = scores.argmax(dim=-1)
        for i, row in enumerate(rows.tolist()):
            temperature, top_p, generator = self.rows[row]
            if generator is None:
                continue
            probs = torch.softmax(scores[i].float() / temperature, dim=-1)
            if top_p < 1:
                sorted_probs, indices = probs.sort(descending=True)
                outside = sorted_probs.cumsum(-1) - sorted_probs > top_p
                probs = probs.scatter(0, indices, sorted_probs.masked_fill(outside, 0.0))
            tokens[i] = torch.multinomial(probs, 1, generator=generator)[0]
        return tokens


def _stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """End-of-sequence ids from the generation config and the tokenizer (chat models often differ)."""
    found = getattr(model.generation_config, "eos_token_id", None)
    ids = set(found if isinstance(found, list) else [found] if found is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    if not ids:
        raise ModelError("the model names no end-of-sequence token: set eos_token_id in its generation_config.json")
    return sorted(ids)


def _with_adapter(model: Any, adapter: str) -> Any:
    from peft import PeftModel

    if not (Path(adapter) / "adapter_config.json").exists() and Path(adapter).exists():
        raise ModelError(f"adapter folder '{adapter}' has no adapter_config.json: give a PEFT adapter folder")
    try:
        return PeftModel.from_pretrained(model, adapter)
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot load adapter '{adapter}': {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
