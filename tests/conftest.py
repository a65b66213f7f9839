"""Shared fixtures: a real store in tmp_path and a micro model trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from docflywheel.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A freshly initialised DuckDB store file."""
    db = Store(tmp_path / "flywheel.duckdb")
    db.init()
    return db


@pytest.fixture(scope="session")
def micro_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A micro Llama model and tokenizer trained from scratch through the real bootstrap code."""
    from docflywheel.bootstrap import bootstrap_model

    out = tmp_path_factory.mktemp("models") / "micro"
    return bootstrap_model("micro", out, seed=0, show_progress=False).path
