"""`pip install .` ships exactly the five import names, with the data files they read."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_the_wheel_installs_only_docflywheel_with_its_data_files(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("docflywheel-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"docflywheel"}
    for package in ("agents", "training", "eval", "dashboard"):
        assert f"docflywheel/{package}/__init__.py" in names
    mapping = {"docflywheel": "docflywheel", "agents": "docflywheel/agents", "training": "docflywheel/training",
               "eval": "docflywheel/eval", "dashboard": "docflywheel/dashboard"}
    for folder, installed in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            inside = init.relative_to(ROOT / folder).as_posix()
            assert f"{installed}/{inside}" in names, f"{folder}/{inside} is not in the wheel: list it in pyproject.toml"
    assert "docflywheel/agents/prompts/document.jinja" in names
    assert "docflywheel/migrations/001_initial.sql" in names
    assert "docflywheel/bootstrap/pretrained/tiny/model.safetensors" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "docflywheel = docflywheel.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
