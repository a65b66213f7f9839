"""The multipage app and the `docflywheel dashboard` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
from streamlit.testing.v1 import AppTest

from docflywheel.dashboard.launch import APP, parse_args, streamlit_command

if TYPE_CHECKING:
    from tests.dashboard.conftest import Flywheel


def _app(db: str) -> None:
    from docflywheel.dashboard.app import main

    main(db)


def test_the_app_opens_on_the_review_queue_with_navigation(flywheel: Flywheel) -> None:
    app = AppTest.from_function(_app, args=(str(flywheel.store.path),), default_timeout=60).run()
    assert not app.exception
    assert app.header[0].value == "Review queue"
    assert app.sidebar.text_input[0].label == "Annotator" and app.sidebar.text_input[0].value == ""
    assert app.subheader[0].value == "pkg.mod.add0"


def test_a_missing_store_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    app = AppTest.from_function(_app, args=(str(tmp_path / "none.duckdb"),), default_timeout=60).run()
    assert [e.value for e in app.error] == [
        f"no store at {tmp_path / 'none.duckdb'}: run `docflywheel init --db {tmp_path / 'none.duckdb'}` first"]
    old = tmp_path / "old.duckdb"
    duckdb.connect(str(old)).close()  # a DuckDB file without our schema
    app = AppTest.from_function(_app, args=(str(old),), default_timeout=60).run()
    assert "schema version 0, expected" in app.error[0].value and "docflywheel init" in app.error[0].value


def test_the_command_refuses_a_missing_store_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "docflywheel.cli", "--db", str(tmp_path / "x.duckdb"), "dashboard"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: no store at {tmp_path / 'x.duckdb'}: run `docflywheel init --db " \
                                  f"{tmp_path / 'x.duckdb'}` first"


def test_the_streamlit_command_binds_localhost_and_passes_the_store(tmp_path: Path) -> None:
    command = streamlit_command(tmp_path / "f.duckdb", port=8600, busy_timeout_s=5)
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(APP)]
    options = dict(zip(command[5:command.index("--")][::2], command[5:command.index("--")][1::2]))
    assert options == {"--server.address": "127.0.0.1", "--server.port": "8600", "--server.headless": "true",
                       "--server.fileWatcherType": "none", "--browser.gatherUsageStats": "false"}
    args = parse_args(command[command.index("--") + 1:])
    assert (args.db, args.busy_timeout) == (str(tmp_path / "f.duckdb"), 5.0)
