"""Exports under a full disk, and the dashboard's default address."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from docflywheel.records import content_id
from docflywheel.store import Store

FILE_LIMIT = 64 << 10  # bytes any one file of the export may reach: the disk is "full" past it


def _sft_set(store: Store, rows: int) -> str:
    """An SFT data set stored the way curation stores one (tests/training/conftest.py: add_dataset)."""
    data = [{"messages": [{"role": "user", "content": f"Document this code:\ndef f{n}(x):\n    return x * {n}"},
                          {"role": "assistant", "content": f"Multiply x by {n}. " * 20}]} for n in range(rows)]
    dataset_id = content_id("dataset", "sft", data)
    store.insert("datasets", [{"id": dataset_id, "name": "sft-v1", "kind": "sft", "version": 1, "filter": {},
                               "row_count": rows, "content_hash": dataset_id}])
    store.insert("dataset_rows", [{"id": content_id(dataset_id, n), "dataset_id": dataset_id, "position": n,
                                   "task_id": None, "data": row} for n, row in enumerate(data)])
    return dataset_id


def _disk_full() -> None:
    # Past RLIMIT_FSIZE a write fails with EFBIG (once SIGXFSZ is ignored), as it would with ENOSPC on a full disk.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def _export(store: Store, out: Path, fmt: str, *, full: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "docflywheel.cli", "--db", str(store.path), "export", "--kind", "sft",
                           "--format", fmt, "--out", str(out)], capture_output=True, text=True, timeout=300,
                          check=False, preexec_fn=_disk_full if full else None)


def test_a_full_disk_during_export_leaves_no_complete_looking_folder_and_an_earlier_export_intact(
        store: Store, tmp_path: Path) -> None:
    _sft_set(store, 400)  # about 300 KB of JSONL, well past the limit
    store_before = store.path.read_bytes()
    out = tmp_path / "sft"

    failed = _export(store, out, "jsonl", full=True)
    assert failed.returncode == 2, failed.stderr
    (line,) = failed.stderr.strip().splitlines()
    assert line.startswith(f"error: could not write the sft export to {out} (File too large): free disk space")
    assert not out.exists() and list(tmp_path.iterdir()) == [store.path]  # no partial file, no staging folder

    assert _export(store, out, "parquet", full=False).returncode == 0
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    again = _export(store, out, "jsonl", full=True)
    assert again.returncode == 2 and {p.name: p.read_bytes() for p in out.iterdir()} == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([store.path.name, "sft"])
    assert store.path.read_bytes() == store_before


def test_the_dashboard_binds_loopback_by_default_and_says_so() -> None:
    done = subprocess.run([sys.executable, "-m", "docflywheel.cli", "dashboard", "--help"], capture_output=True,
                          text=True, timeout=120, check=True, env={**os.environ, "COLUMNS": "200"})
    assert "[default: 127.0.0.1]" in done.stdout and "0.0.0.0 exposes it to the network" in done.stdout
    from docflywheel.dashboard.launch import streamlit_command

    command = streamlit_command("x.duckdb")
    assert command[command.index("--server.address") + 1] == "127.0.0.1"

