"""The data sets page in AppTest against a real store, and the files its download buttons give."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from docflywheel.dashboard.datasets import FORMATS, export_zip, preview_frame
from docflywheel.store import Store

if TYPE_CHECKING:
    from tests.dashboard.conftest import Flywheel, Pages


def test_the_page_lists_versions_previews_rows_and_offers_every_format(flywheel: Flywheel, pages: Pages) -> None:
    app = pages.open(flywheel.store, "datasets")
    assert not app.exception
    versions = app.dataframe[0].value
    assert versions[["name", "kind", "version", "rows", "filter"]].values.tolist() == [
        ["sft", "sft", 1, 3, '{"min_score": 0.7}']]
    preview = app.dataframe[1].value
    assert preview["user"].tolist() == ["Document add0", "Document add1", "Document add2"]
    assert preview["assistant"].iloc[2] == "Adds two numbers (2)."
    assert [b.proto.label for b in app.get("download_button")] == [f"Download {label}" for label in FORMATS.values()]
    assert pages.charts(app)["Rows per data set version"]["rows"].tolist() == [3]


def test_downloads_are_the_export_folders_zipped(flywheel: Flywheel, tmp_path: Path) -> None:
    store = flywheel.store
    dataset = store.select("datasets", ids=[flywheel.dataset])[0]
    records = [row["data"] for row in store.dataset_rows(flywheel.dataset)]

    def unzip(fmt: str) -> Path:
        with zipfile.ZipFile(io.BytesIO(export_zip(store, dataset, fmt))) as archive:
            archive.extractall(tmp_path / fmt)
        assert "docflywheel" in (tmp_path / fmt / "README.md").read_text()
        return tmp_path / fmt

    lines = (unzip("jsonl") / "train.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == records
    assert pq.read_table(unzip("parquet") / "train.parquet").to_pylist() == records
    from datasets import load_from_disk

    assert load_from_disk(str(unzip("hf"))).to_list() == records


def test_preference_rows_preview_by_their_columns() -> None:
    frame = preview_frame([{"position": 0, "data": {"prompt": "Document f", "chosen": "Good.", "rejected": "Bad."}}])
    assert frame.values.tolist() == [[0, "Document f", "Good.", "Bad."]]


def test_no_data_set_yet(store: Store, pages: Pages) -> None:
    app = pages.open(store, "datasets")
    assert "No data set yet" in app.info[0].value
