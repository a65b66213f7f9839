"""Export a curated data set in the formats TRL reads unchanged, with a small dataset card beside it.

A folder per export: `train.jsonl` or `train.parquet` (which `datasets.load_dataset(FOLDER)` opens, as the card
names the file), or a saved Hugging Face dataset (`datasets.load_from_disk(FOLDER)`); and `README.md`.
SFT and KD rows are conversational `messages`; DPO rows are conversational `prompt` / `chosen` / `rejected`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from datasets import Dataset
from datasets.utils.tqdm import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

from docflywheel.errors import InputError
from docflywheel.store import Store
from docflywheel.training.curate import KINDS

Format = Literal["jsonl", "parquet", "hf"]
FORMATS: tuple[Format, ...] = ("jsonl", "parquet", "hf")
COLUMNS = {"sft": ("messages",), "kd": ("messages",), "dpo": ("prompt", "chosen", "rejected")}
CARD = "README.md"
MARK = "<!-- written by docflywheel export -->"


def export(store: Store, kind: str, fmt: str, out: str | Path, dataset_id: str | None = None) -> Path:
    """Write a data set of `kind` (the latest one unless `dataset_id` names one) as `fmt` into the folder `out`.

    Returns the folder. A folder that holds anything but an earlier export is refused.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown export format '{fmt}': choose jsonl, parquet or hf")
    dataset = find_dataset(store, kind, dataset_id)
    rows = dataset_rows(store, dataset["id"], kind)
    folder = _prepare(Path(out))
    # Written beside the target and renamed into place at the end: a full disk or a kill leaves no folder that
    # looks like a finished export (an earlier export there stays as it was).
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    try:
        if fmt == "jsonl":
            with open(staging / "train.jsonl", "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        elif fmt == "parquet":
            pq.write_table(pa.Table.from_pylist(rows), staging / "train.parquet")
        else:
            bars_on = not are_progress_bars_disabled()
            disable_progress_bars()
            try:
                Dataset.from_list(rows).save_to_disk(str(staging))
            finally:
                if bars_on:
                    enable_progress_bars()
        (staging / CARD).write_text(dataset_card(store, dataset, fmt), encoding="utf-8")
        _swap(staging, folder)
    except OSError as error:
        raise InputError(f"could not write the {kind} export to {folder} ({error.strerror or error}): free disk "
                         "space or pass another --out; nothing was left there") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _swap(staging: Path, folder: Path) -> None:
    """Move the finished export to `folder`, replacing an earlier export (or empty folder) there."""
    old = folder.with_name(staging.name + ".old") if folder.exists() else None
    if old:
        folder.rename(old)
    try:
        staging.rename(folder)
    except OSError:
        if old:
            old.rename(folder)
        raise
    if old:
        shutil.rmtree(old, ignore_errors=True)


def find_dataset(store: Store, kind: str, dataset_id: str | None = None) -> dict[str, Any]:
    """The stored `datasets` row: `dataset_id`, or the latest version of `kind`."""
    if kind not in KINDS:
        raise InputError(f"unknown data set kind '{kind}': choose sft, dpo or kd")
    known = store.select("datasets", kind=kind, order_by="version DESC")
    if dataset_id is None:
        if not known:
            raise InputError(f"no {kind} data set in {store.path}: make one with `docflywheel curate --kind {kind}`")
        return known[0]
    found = store.select("datasets", ids=[dataset_id])
    if not found:
        listed = ", ".join(f"{row['id']} ({row['name']})" for row in known[:3]) or "none yet"
        raise InputError(f"no data set {dataset_id} in {store.path}: pass one of its {kind} sets ({listed}) "
                         f"or leave --dataset out for the latest")
    if found[0]["kind"] != kind:
        raise InputError(f"data set {dataset_id} ({found[0]['name']}) is a {found[0]['kind']} set, not {kind}: "
                         f"pass --kind {found[0]['kind']}")
    return found[0]


def dataset_rows(store: Store, dataset_id: str, kind: str) -> list[dict[str, Any]]:
    """The rows' `data` in position order, columns and message keys in the contract's order."""
    rows = store.select("dataset_rows", dataset_id=dataset_id, order_by="position")
    data = [json.loads(row["data"]) if isinstance(row["data"], str) else row["data"] for row in rows]
    return [{column: [{"role": m["role"], "content": m["content"]} for m in row[column]] for column in COLUMNS[kind]}
            for row in data]


def _prepare(folder: Path) -> Path:
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out {folder} is a file: give a folder to write the data set and its card into")
    if folder.is_dir() and any(folder.iterdir()):
        card = folder / CARD
        if not (card.is_file() and MARK in card.read_text(encoding="utf-8", errors="replace")):
            raise InputError(f"--out {folder} holds other files: give a new or empty folder (an earlier export "
                             "there is replaced)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder


def dataset_card(store: Store, dataset: dict[str, Any], fmt: str) -> str:
    """README.md: YAML metadata (what `load_dataset` reads), then source, filter, counts and judges."""
    record = json.loads(dataset["filter"]) if isinstance(dataset["filter"], str) else dataset["filter"] or {}
    kind, name = dataset["kind"], dataset["name"]
    meta: dict[str, Any] = {"pretty_name": f"docflywheel {name}", "tags": ["docflywheel", kind, "code-documentation"]}
    data_file = {"jsonl": "train.jsonl", "parquet": "train.parquet"}.get(fmt)
    if data_file:
        meta["configs"] = [{"config_name": "default", "data_files": [{"split": "train", "path": data_file}]}]
    load = (f'load_dataset("{{folder}}", split="train")' if data_file else 'load_from_disk("{folder}")')
    shape = ("`prompt`, `chosen`, `rejected` (conversational: lists of role/content messages)" if kind == "dpo"
             else "`messages` (conversational: the user's prompt, then the assistant's documentation)")
    lines = ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", MARK, "", f"# {name}", "",
             f"A {kind.upper()} data set curated by docflywheel from judged documentation of Python code. "
             f"Columns: {shape}, as TRL's trainers read them.", "",
             "| field | value |", "| --- | --- |",
             f"| id | `{dataset['id']}` |", f"| kind / version | {kind} / {dataset['version']} |",
             f"| rows | {dataset['row_count']} |", f"| content hash | `{dataset['content_hash']}` |",
             f"| source store | `{store.path.resolve()}` |", f"| curated | {dataset['created_at']} |",
             f"| exported | {datetime.now(timezone.utc).isoformat(timespec='seconds')} |",
             f"| format | {fmt}{f' (`{data_file}`)' if data_file else ' (`Dataset.save_to_disk`)'} |",
             f"| load with | `{load.format(folder='PATH')}` |", "",
             "## Filter", "", "| setting | value |", "| --- | --- |"]
    lines += [f"| {key} | `{json.dumps(value)}` |" for key, value in record.get("settings", {}).items()]
    jury = record.get("jury", {})
    members = ", ".join(f"{m['judge_kind']}/{m['criterion']} x{m['weight']}" for m in jury.get("members", []))
    lines += ["", f"Scores are the jury's (eval/jury.yaml version {jury.get('version', '?')}: {members or 'unknown'}), "
              f"on a 1-5 scale. Position consistency of pairs: {record.get('position_consistency', 'n/a')}.", "",
              "## Counts", "", "| step | unit | dropped | left |", "| --- | --- | --- | --- |"]
    lines += [f"| {s['step']} | {s['unit']} | {s['dropped']} | {s['left']} |" for s in record.get("steps", [])]
    contamination = record.get("decontamination", {})
    lines += ["", f"Decontamination: {len(contamination.get('dropped_tasks', []))} train task(s) dropped as near "
              f"copies of {contamination.get('held_out_tasks', 0)} held-out (dev/test) tasks' code.", "",
              "## Judges", "", "Every judge whose judgments lie behind the rows:", "",
              "| kind | model | prompt hash | version | judgments |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {j['judge_kind']} | {j['judge_model'] or '-'} | {j['judge_prompt_hash'] or '-'} | "
              f"{j['judge_version']} | {j['judgments']} |" for j in record.get("judges", [])]
    return "\n".join(lines) + "\n"
