from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from docflywheel.models.base import GenerationRequest, ModelSpec
from docflywheel.models.hf import HFBackend
from docflywheel.models.openai_backend import OpenAIBackend
from docflywheel.models.vllm_server import VLLMServer, server_command

SCHEMA = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5},
                                           "reason": {"type": "string", "maxLength": 40}},
          "required": ["score", "reason"], "additionalProperties": False}


def test_the_command_serves_the_model_and_its_adapters(micro_model: Path, micro_adapter: Path) -> None:
    command = server_command(micro_model, port=8123, served_model_name="micro", adapters={"a": micro_adapter})
    assert command[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    flags = {arg: value for arg, value in zip(command, command[1:]) if arg.startswith("--")}
    assert flags["--model"] == str(micro_model) and flags["--port"] == "8123"
    assert flags["--max-model-len"] == str(json.loads((micro_model / "config.json").read_text())[
        "max_position_embeddings"])
    assert command[command.index("--max-lora-rank") + 1] == "8"
    # On the CPU, seeded requests in a split prefill kill the engine: the command turns chunked prefill off.
    assert ("--no-enable-chunked-prefill" in command) == (not torch.cuda.is_available())
    assert command[-1] == f"a={micro_adapter}"


@pytest.mark.vllm
@pytest.mark.slow
def test_server_answers_base_and_adapter_like_transformers(vllm_server: VLLMServer, micro_model: Path,
                                                           micro_adapter: Path,
                                                           doc_requests: list[GenerationRequest]) -> None:
    assert set(vllm_server.models()) == {"micro", "micro-lora"}
    for served, adapter in (("micro", None), ("micro-lora", str(micro_adapter))):
        served_backend = OpenAIBackend(ModelSpec("openai", served, base_url=vllm_server.base_url), concurrency=4)
        answers = served_backend.generate(doc_requests)
        local = HFBackend(ModelSpec("hf", str(micro_model), adapter=adapter), device="cpu").generate(doc_requests)
        assert [c.text for c in answers] == [c.text for c in local], served
        assert [c.tokens_in for c in answers] == [c.tokens_in for c in local]
        assert [c.finish_reason for c in answers] == [c.finish_reason for c in local]
        assert served_backend.retries == 0


@pytest.mark.vllm
@pytest.mark.slow
def test_server_json_schema_output_parses(vllm_server: VLLMServer, doc_requests: list[GenerationRequest]) -> None:
    backend = OpenAIBackend(ModelSpec("openai", "micro", base_url=vllm_server.base_url))
    judges = [replace(r, max_new_tokens=48, json_schema=SCHEMA, temperature=0.7, seed=i)
              for i, r in enumerate(doc_requests[:4])]
    for completion in backend.generate(judges):
        reply = json.loads(completion.text)
        assert reply["score"] in range(1, 6) and isinstance(reply["reason"], str)


@pytest.mark.vllm
@pytest.mark.slow
def test_a_prompt_longer_than_the_context_is_left_truncated_like_transformers(vllm_server: VLLMServer,
                                                                              micro_model: Path) -> None:
    context = json.loads((micro_model / "config.json").read_text())["max_position_embeddings"]
    long = GenerationRequest([{"role": "user", "content": "Document this code: " + "x = 1\n" * context}],
                             max_new_tokens=16, temperature=0.0)
    served = OpenAIBackend(ModelSpec("openai", "micro", base_url=vllm_server.base_url)).generate([long])[0]
    local = HFBackend(ModelSpec("hf", str(micro_model)), device="cpu").generate([long])[0]
    assert served.error is None and served.tokens_in == local.tokens_in == context - 16
    assert served.text == local.text
