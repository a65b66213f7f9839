"""Export of curated data sets: each format loads with `datasets`, and plain TRL trains on it unchanged."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from datasets import load_dataset, load_from_disk
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

from docflywheel.errors import InputError
from docflywheel.store import Store
from docflywheel.training.curate import curate_all
from docflywheel.training.export import export


@pytest.fixture
def curated(store: Store, kit: Any) -> Store:
    """An SFT set of 2 rows, a DPO set of 3 pairs and a KD set of 1 row, curated from judged generations."""
    tasks = [kit.task(f"export_{n}") for n in range(4)]
    kit.write(store, [kit.Doc(tasks[0], kit.GOOD), kit.Doc(tasks[0], kit.BAD),
                      kit.Doc(tasks[1], kit.OK), kit.Doc(tasks[1], kit.BAD),
                      kit.Doc(tasks[2], kit.FAIR), kit.Doc(tasks[2], kit.BAD),
                      kit.Doc(tasks[3], kit.GOOD, role="teacher")])
    assert [info.row_count for info in curate_all(store)] == [2, 3, 1]
    return store


def _stored(store: Store, kind: str) -> list[dict[str, Any]]:
    dataset = store.select("datasets", kind=kind)[0]
    return [json.loads(row["data"]) for row in store.select("dataset_rows", dataset_id=dataset["id"], order_by="position")]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_each_format_loads_with_datasets_and_holds_the_stored_rows(curated: Store, tmp_path: Path, fmt: str) -> None:
    for kind, columns in (("sft", ["messages"]), ("dpo", ["prompt", "chosen", "rejected"])):
        out = export(curated, kind, fmt, tmp_path / f"{kind}-{fmt}")
        loaded = load_from_disk(str(out)) if fmt == "hf" else load_dataset(str(out), split="train")
        assert loaded.column_names == columns
        assert loaded.to_list() == _stored(curated, kind)
        card = (out / "README.md").read_text()
        dataset = curated.select("datasets", kind=kind)[0]
        assert dataset["id"] in card and f"| rows | {dataset['row_count']} |" in card
        assert str(curated.path.resolve()) in card and "| verifier | - | - | 1 |" in card
        assert "| dpo_min_margin | `0.5` |" in card and "| reference | sentence-transformers" in card


def test_a_second_export_into_the_same_folder_replaces_the_first(curated: Store, tmp_path: Path) -> None:
    out = export(curated, "kd", "jsonl", tmp_path / "kd")
    export(curated, "kd", "parquet", out)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "train.parquet"]
    assert load_dataset(str(out), split="train").num_rows == 1


def test_bad_exports_say_what_to_do(curated: Store, store: Store, tmp_path: Path) -> None:
    sft_id = curated.select("datasets", kind="sft")[0]["id"]
    with pytest.raises(InputError, match=rf"no data set abc in .*: pass one of its sft sets \({sft_id} \(sft-v1\)\)"):
        export(curated, "sft", "jsonl", tmp_path / "x", dataset_id="abc")
    with pytest.raises(InputError, match=rf"data set {sft_id} \(sft-v1\) is a sft set, not dpo: pass --kind sft"):
        export(curated, "dpo", "jsonl", tmp_path / "x", dataset_id=sft_id)
    with pytest.raises(InputError, match="unknown export format 'csv': choose jsonl, parquet or hf"):
        export(curated, "sft", "csv", tmp_path / "x")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(InputError, match="holds other files: give a new or empty folder"):
        export(curated, "sft", "jsonl", tmp_path / "notes")
    empty = Store(tmp_path / "empty.duckdb")
    empty.init()
    with pytest.raises(InputError, match="no kd data set in .*: make one with `docflywheel curate --kind kd`"):
        export(empty, "kd", "jsonl", tmp_path / "y")


COMMON = {"max_steps": 2, "per_device_train_batch_size": 2, "use_cpu": True, "bf16": False,
          "gradient_checkpointing": False, "report_to": [], "logging_steps": 1, "save_strategy": "no"}


def _losses(trainer: Any) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def _weights(model: Any) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _changed(model: Any, before: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(before[name], p.detach()) for name, p in model.named_parameters())


def test_an_exported_sft_set_trains_with_plain_trl(curated: Store, micro_model: Path, tmp_path: Path) -> None:
    train = load_dataset(str(export(curated, "sft", "jsonl", tmp_path / "sft")), split="train")
    model = AutoModelForCausalLM.from_pretrained(micro_model)
    before = _weights(model)
    trainer = SFTTrainer(model=model, train_dataset=train, processing_class=AutoTokenizer.from_pretrained(micro_model),
                         args=SFTConfig(output_dir=str(tmp_path / "run"), learning_rate=3e-4, **COMMON))
    trainer.train()
    losses = _losses(trainer)
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    assert _changed(model, before)


def test_an_exported_dpo_set_trains_with_plain_trl(curated: Store, micro_model: Path, tmp_path: Path) -> None:
    train = load_dataset(str(export(curated, "dpo", "parquet", tmp_path / "dpo")), split="train")
    model = AutoModelForCausalLM.from_pretrained(micro_model)
    before = _weights(model)
    trainer = DPOTrainer(model=model, train_dataset=train, processing_class=AutoTokenizer.from_pretrained(micro_model),
                         args=DPOConfig(output_dir=str(tmp_path / "run"), learning_rate=5e-5, **COMMON))
    trainer.train()
    losses = _losses(trainer)
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    assert _changed(model, before)
