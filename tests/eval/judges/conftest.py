"""Fixtures of the LLM judge tests: the micro model behind the real transformers backend, and a scripted
backend at the model boundary that replies with given texts (for exact malformed replies)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from docflywheel.config import GenerationConfig
from docflywheel.models import Backend, Completion, GenerationRequest, ModelSpec, load_backend
from docflywheel.records import Generation, Task


class ScriptedBackend:
    """Replies with the next of `replies` to each request, and keeps every batch it was sent."""

    def __init__(self, replies: Sequence[str | Completion], *, json_schema: bool = False) -> None:
        self.spec = ModelSpec("hf", "scripted")
        self.supports_json_schema = json_schema
        self.replies = list(replies)
        self.batches: list[list[GenerationRequest]] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.batches.append(list(requests))
        out = []
        for _ in requests:
            reply = self.replies.pop(0)
            out.append(reply if isinstance(reply, Completion) else Completion(reply))
        return out

    def close(self) -> None:
        pass


@pytest.fixture
def scripted() -> type[ScriptedBackend]:
    return ScriptedBackend


@pytest.fixture(scope="session")
def micro_backend(micro_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    return load_backend(f"hf:{micro_model}", GenerationConfig(device="cpu"), tmp_path_factory.mktemp("cache"))


@pytest.fixture
def task() -> Task:
    return Task(qualname="mathutil.add", kind="function", code="def add(a, b):\n    return a + b\n")


@pytest.fixture
def generations(task: Task) -> list[Generation]:
    texts = ["Add two numbers.", "Return the sum of `a` and `b`.\n\n>>> add(1, 2)\n3"]
    return [Generation(task_id=task.id or "", text=text, model=f"m{n}", prompt_hash="p")
            for n, text in enumerate(texts)]
