"""How the dashboard starts: the `streamlit run` command line, the app's own arguments, and the store it opens.

Kept apart from the pages so that `docflywheel dashboard` checks the store without importing Streamlit.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from docflywheel.errors import StoreError
from docflywheel.store import Store, latest_version

APP = Path(__file__).resolve().parent / "app.py"


class SerialStore(Store):
    """A Store whose connections this process opens one at a time.

    Streamlit serves each browser session from its own thread; DuckDB refuses a read-only and a read-write
    connection to one file open together in one process ("different configuration"), so a label saved in
    one session while another reads would fail. Across processes, Store.connect already waits out the lock.
    """

    _lock = threading.RLock()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock, super().connect(read_only=read_only) as con:
            yield con


_CHECKED: set[Path] = set()  # stores found at the current schema version by this process


def open_store(path: str | Path, busy_timeout_s: float = 60.0) -> SerialStore:
    """The store at `path`, checked to exist at the current schema version (a StoreError says how to mend it)."""
    store = SerialStore(path, busy_timeout_s=busy_timeout_s)
    if not store.path.exists():
        raise StoreError(f"no store at {store.path}: run `docflywheel init --db {store.path}` first")
    if store.path.resolve() not in _CHECKED:
        version = store.version()
        if version != latest_version():
            raise StoreError(f"store {store.path} is at schema version {version}, expected {latest_version()}: "
                             f"run `docflywheel init --db {store.path}`")
        _CHECKED.add(store.path.resolve())
    return store


def streamlit_command(db: str | Path, host: str = "127.0.0.1", port: int = 8501,
                      busy_timeout_s: float = 60.0) -> list[str]:
    """The `streamlit run` command line that serves the app for the store `db`."""
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.address", host, "--server.port", str(port), "--server.headless", "true",
            "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
            "--", "--db", str(Path(db).resolve()), "--busy-timeout", str(busy_timeout_s)]


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The app's own arguments, those after `--` on the `streamlit run` line."""
    parser = argparse.ArgumentParser(prog="docflywheel dashboard")
    parser.add_argument("--db", default="flywheel.duckdb", help="DuckDB store file")
    parser.add_argument("--busy-timeout", type=float, default=60.0, help="seconds to wait while another process writes")
    return parser.parse_known_args(argv)[0]
