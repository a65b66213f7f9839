from __future__ import annotations

import json
from pathlib import Path

import pytest

from docflywheel.bootstrap import CARD
from docflywheel.config import GenerationConfig
from docflywheel.errors import ModelError
from docflywheel.models import load_backend
from docflywheel.models.hf import HFBackend
from docflywheel.models.openai_backend import OpenAIBackend


def test_specs_pick_their_backend_with_the_generation_settings(micro_model: Path, tmp_path: Path) -> None:
    settings = GenerationConfig(batch_size=5, concurrency=3, seed=7, device="cpu")
    local = load_backend(f"hf:{micro_model}", settings, tmp_path)
    assert isinstance(local, HFBackend) and (local.batch_size, local.seed) == (5, 7)
    assert local.supports_json_schema is False
    (tmp_path / "micro").symlink_to(micro_model)
    assert isinstance(load_backend("micro", settings, tmp_path), HFBackend)
    served = load_backend("openai:http://127.0.0.1:9#micro", settings, tmp_path, api_key="k")
    assert isinstance(served, OpenAIBackend) and served.concurrency == 3 and served.supports_json_schema


def test_the_shipped_tiny_model_needs_no_bootstrap(tmp_path: Path) -> None:
    backend = load_backend("tiny", GenerationConfig(device="cpu"), tmp_path / "cache")
    assert isinstance(backend, HFBackend) and backend.spec.model == str(tmp_path / "cache" / "tiny")
    assert json.loads((tmp_path / "cache" / "tiny" / CARD).read_text())["steps"] == 745


def test_a_missing_model_is_one_line_that_says_how_to_mend_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"docflywheel bootstrap --size small") as caught:
        load_backend("small", GenerationConfig(), tmp_path)
    assert "\n" not in str(caught.value)
    with pytest.raises(ModelError, match="does not exist"):
        load_backend(f"vllm:{tmp_path / 'nowhere'}", GenerationConfig(), tmp_path)
