"""The vLLM backend: an in-process `vllm.LLM` engine for batch work, with JSON-schema constrained output.

vLLM's CPU build starts its workers with spawn: a script that uses this backend must create it under
`if __name__ == "__main__":`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from docflywheel.errors import InputError, ModelError
from docflywheel.models.base import Completion, GenerationRequest, ModelSpec
from docflywheel.models.vllm_server import (
    STRUCTURED_OUTPUTS,
    check_cpu_support,
    context_length,
    cpu_engine_options,
    default_dtype,
    lora_rank,
    vllm_env,
)

INSTALL_HINT = "vLLM is not installed: pip install 'docflywheel[vllm]'"


class VLLMBackend:
    """Chat generation through `vllm.LLM.chat`, all requests of a call in one engine batch."""

    supports_json_schema = True

    def __init__(self, spec: ModelSpec, *, seed: int = 0, dtype: str | None = None,
                 max_model_len: int | None = None) -> None:
        # vLLM reads its variables when the engine starts, and spawned workers inherit them.
        os.environ.update(vllm_env(spec.model))
        try:
            from vllm import LLM
            from vllm.lora.request import LoRARequest
        except ImportError:
            raise InputError(INSTALL_HINT) from None
        check_cpu_support(spec.model)
        self.spec = spec
        self.seed = seed
        self.max_model_len = max_model_len or context_length(spec.model)
        options: dict[str, Any] = {"dtype": dtype or default_dtype(), "seed": seed,
                                   "structured_outputs_config": dict(STRUCTURED_OUTPUTS), **cpu_engine_options()}
        if self.max_model_len:
            options["max_model_len"] = self.max_model_len
        self.lora = None
        if spec.adapter:
            if not Path(spec.adapter).exists():
                raise ModelError(f"adapter folder '{spec.adapter}' does not exist: give a PEFT adapter folder")
            options.update(enable_lora=True, max_lora_rank=lora_rank({"adapter": spec.adapter}), max_loras=1)
            self.lora = LoRARequest("adapter", 1, str(Path(spec.adapter).resolve()))
        try:
            self.llm = LLM(model=spec.model, **options)
        except (OSError, ValueError) as error:
            raise ModelError(f"vLLM cannot load '{spec.model}': {_first_line(error)}") from None
        if self.max_model_len is None:
            self.max_model_len = self.llm.llm_engine.model_config.max_model_len

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """One completion per request, in order; a request vLLM rejects comes back as an error."""
        results: list[Completion | None] = [None] * len(requests)
        # Prompt truncation is one setting per call, and it depends on max_new_tokens.
        order = sorted(range(len(requests)), key=lambda i: requests[i].max_new_tokens)
        for _, group in groupby(order, key=lambda i: requests[i].max_new_tokens):
            indices = list(group)
            for i, completion in zip(indices, self._generate_group([requests[i] for i in indices]), strict=True):
                results[i] = completion
        return [completion for completion in results if completion is not None]

    def close(self) -> None:
        engine = getattr(self.llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        del self.llm

    def _generate_group(self, requests: list[GenerationRequest]) -> list[Completion]:
        try:
            return self._chat(requests)
        except Exception:  # vLLM raises many types; one bad request fails the batch, so find it alone
            pass
        completions = []
        for request in requests:
            try:
                completions.extend(self._chat([request]))
            except Exception as error:
                completions.append(Completion("", finish_reason="error", error=f"vLLM: {_first_line(error)}"))
        return completions

    def _chat(self, requests: list[GenerationRequest]) -> list[Completion]:
        new = requests[0].max_new_tokens
        tokenization: dict[str, Any] = {}
        if self.max_model_len:
            new = min(new, self.max_model_len - 1)
            tokenization = {"truncate_prompt_tokens": self.max_model_len - new, "truncation_side": "left"}
        started = time.perf_counter()
        conversations: Any = [list(request.messages) for request in requests]
        outputs = self.llm.chat(conversations,
                                [self._sampling(request, new) for request in requests],
                                use_tqdm=False, lora_request=self.lora, tokenization_kwargs=tokenization)
        elapsed = time.perf_counter() - started
        completions = []
        for output in outputs:
            sample = output.outputs[0]
            completions.append(Completion(sample.text, len(output.prompt_token_ids or []), len(sample.token_ids),
                                          elapsed, sample.finish_reason or "length"))
        return completions

    def _sampling(self, request: GenerationRequest, max_tokens: int) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        structured = StructuredOutputsParams(json=request.json_schema) if request.json_schema else None
        return SamplingParams(max_tokens=max_tokens, temperature=request.temperature, top_p=request.top_p,
                              seed=request.seed if request.seed is not None else self.seed,
                              structured_outputs=structured)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
