"""Fixtures of the reliability suite: the real CLI as a subprocess (tests/conftest.py puts this folder on the path)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

DOCFLYWHEEL = [sys.executable, "-m", "docflywheel.cli"]

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Run `docflywheel ARGS...` in a subprocess (in tmp_path unless cwd is given); returns the finished process."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*DOCFLYWHEEL, *args], cwd=cwd or tmp_path, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    return run
