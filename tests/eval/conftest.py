"""Fixtures of the eval tests: the human-labelled data in shared/ beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

HUMAN_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "human"


@pytest.fixture(scope="session")
def human_data() -> Path:
    if not HUMAN_DATA.is_dir():
        pytest.skip(f"no human-labelled data at {HUMAN_DATA}")
    return HUMAN_DATA
