"""Data sets: every version with the filter that made it and its size, a preview of its rows, and downloads.

A download is what `docflywheel export` writes (training/export.py: the data file in a format TRL reads,
and its README.md dataset card), zipped; it is built only when its button is clicked (Streamlit's
deferred download data), so the page neither waits for the export code to import nor for the file.
Where the export refuses (a kind it does not know), the browser says the file could not be made and the
server log has export's one-line reason.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from docflywheel.dashboard import charts
from docflywheel.store import Store

PREVIEW_ROWS = 20
FORMATS = {"jsonl": "JSON lines", "parquet": "Parquet", "hf": "Hugging Face (save_to_disk)"}


def export_zip(store: Store, dataset: dict[str, Any], fmt: str) -> bytes:
    """One data set version exported by training/export.py in `fmt`, as a zip of its folder."""
    from docflywheel.training.export import export

    with tempfile.TemporaryDirectory() as scratch:
        folder = export(store, dataset["kind"], fmt, Path(scratch) / "export", dataset["id"])
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder).as_posix())
        return buffer.getvalue()


def preview_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a table: chat rows as their user prompt and assistant answer, other rows by their top-level keys."""
    table = []
    for row in rows:
        data = row["data"] if isinstance(row["data"], dict) else json.loads(row["data"])
        if isinstance(data.get("messages"), list):
            flat = {f"{m.get('role', '?')}": m.get("content") for m in data["messages"] if isinstance(m, dict)}
        else:
            flat = {k: v if isinstance(v, (str, int, float)) or v is None else json.dumps(v, ensure_ascii=False)
                    for k, v in data.items()}
        table.append({"position": row["position"], **flat})
    return pd.DataFrame(table)


def render(store: Store) -> None:
    st.header("Data sets")
    versions = [{**d, "filter": json.loads(d["filter"]) if isinstance(d["filter"], str) else d["filter"]}
                for d in store.select("datasets", order_by="name, version, id")]
    if not versions:
        st.info("No data set yet: curation writes versioned SFT and preference sets after judging.")
        return
    frame = pd.DataFrame([{"name": d["name"], "kind": d["kind"], "version": d["version"], "rows": d["row_count"],
                           "filter": json.dumps(d["filter"], sort_keys=True) if d["filter"] is not None else "",
                           "content hash": d["content_hash"][:12], "created": d["created_at"]} for d in versions])
    st.altair_chart(charts.bars(frame, "version", "rows", color="name", title="Rows per data set version"),
                    width="stretch")
    st.dataframe(frame, hide_index=True, width="stretch")
    labels = [f"{d['name']} v{d['version']} ({d['kind']}, {d['row_count']:,} rows)" for d in versions]
    pick = st.selectbox("Data set version", range(len(versions)), format_func=labels.__getitem__,
                        index=len(versions) - 1, key="dataset_pick")
    chosen = versions[pick if pick is not None else -1]
    st.markdown(f"**Filter** `{json.dumps(chosen['filter'], sort_keys=True)}`")
    rows = store.dataset_rows(chosen["id"], limit=PREVIEW_ROWS)
    st.caption(f"first {len(rows)} of {chosen['row_count']:,} rows")
    st.dataframe(preview_frame(rows), hide_index=True, width="stretch")
    stem = f"{chosen['name']}-v{chosen['version']}"
    for column, (fmt, label) in zip(st.columns(len(FORMATS)), FORMATS.items()):
        column.download_button(f"Download {label}", data=lambda fmt=fmt: export_zip(store, chosen, fmt),
                               file_name=f"{stem}-{fmt}.zip", mime="application/zip", on_click="ignore",
                               key=f"download_{fmt}_{chosen['id']}",
                               help="the folder `docflywheel export` writes: the data and its README.md card")
