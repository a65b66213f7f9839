"""The Streamlit app: review queue, agreement, flywheel and data sets, over one store file.

Started by `docflywheel dashboard`, which runs `streamlit run app.py -- --db PATH`. Pages never hold a
connection open: every read is one short-lived Store call, so a running `docflywheel run` can write to
the same file at the same time (each side waits out the other's lock; FINDINGS.md, DuckDB).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

# `streamlit run` puts this file's folder first on sys.path (streamlit/web/bootstrap.py, _fix_sys_path), where
# datasets.py would shadow Hugging Face's `datasets`; the pages are imported as docflywheel.dashboard.* instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _HERE]

import streamlit as st  # noqa: E402

from docflywheel.dashboard import agreement, datasets, flywheel, review  # noqa: E402
from docflywheel.dashboard.launch import open_store, parse_args  # noqa: E402
from docflywheel.dashboard.review import ANNOTATOR  # noqa: E402
from docflywheel.errors import StoreError  # noqa: E402
from docflywheel.store import Store  # noqa: E402

PAGES: dict[str, tuple[str, Callable[[Store], None]]] = {
    "review": ("Review queue", review.render),
    "agreement": ("Agreement", agreement.render),
    "flywheel": ("Flywheel", flywheel.render),
    "datasets": ("Data sets", datasets.render),
}


def render_page(db: str | Path, name: str, busy_timeout_s: float = 60.0) -> None:
    """One page with the sidebar, without navigation (what each navigation entry runs; tests call it too)."""
    try:
        store = open_store(db, busy_timeout_s)
    except StoreError as error:
        st.error(str(error))
        st.stop()
    with st.sidebar:
        # Kept in plain session state (a page switch drops widget state) and in the URL (a reload drops the session).
        known = st.session_state.get(ANNOTATOR) or st.query_params.get(ANNOTATOR, "")
        typed = st.text_input("Annotator", value=known, placeholder="your name", help="saved with every label")
        if typed != st.session_state.get(ANNOTATOR):
            st.session_state[ANNOTATOR] = st.query_params[ANNOTATOR] = typed
        st.caption(f"store `{store.path}`")
    PAGES[name][1](store)


def main(db: str | Path | None = None, busy_timeout_s: float | None = None) -> None:
    """The multipage app; without arguments it reads `--db` and `--busy-timeout` from the command line."""
    args = parse_args(sys.argv[1:])
    path = db if db is not None else args.db
    timeout = busy_timeout_s if busy_timeout_s is not None else args.busy_timeout
    st.set_page_config(page_title="docflywheel", layout="wide")
    pages = [st.Page(lambda name=name: render_page(path, name, timeout), title=title, url_path=name,
                     default=name == "review") for name, (title, _) in PAGES.items()]
    st.navigation(pages).run()


if __name__ == "__main__":
    main()
