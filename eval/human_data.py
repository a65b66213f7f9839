"""Loaders for the human-labelled sets in shared/data/human, each into typed items.

A malformed row raises `InputError` naming the file, the line (of the row's start) and the field.
"""

from __future__ import annotations

import csv
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from docflywheel.errors import InputError
from docflywheel.jsonl import open_text, records

CRUPI_CRITERIA = {"content_adequacy": "CA", "conciseness": "Conciseness", "fluency": "Fluency"}
CRUPI_RATERS = 3
CRUPI_SCALE = (1, 5)
_HH_LAST_TURN = "\n\nAssistant:"


@dataclass(frozen=True)
class CrupiItem:
    """One summary of one function, rated 1-5 by three people on each criterion (Crupi et al. 2025)."""

    target_id: str
    code: str
    summary: str
    generated_by: str
    ratings: dict[str, tuple[int, ...]]  # criterion -> one score per rater
    language: str | None
    line: int

    def median(self, criterion: str) -> float:
        return float(statistics.median(self.ratings[criterion]))


@dataclass(frozen=True)
class AutojItem:
    """A prompt, two responses and the human verdict: 0 = response 1 better, 1 = response 2, 2 = tie."""

    prompt: str
    response_1: str
    response_2: str
    label: Literal[0, 1, 2]
    scenario: str
    line: int


@dataclass(frozen=True)
class HHItem:
    """An Anthropic HH-RLHF pair: the same dialogue ending in the preferred and the rejected reply."""

    chosen: str
    rejected: str
    subset: str
    line: int

    @property
    def prompt(self) -> str:
        """The dialogue before the chosen dialogue's last Assistant turn."""
        return self.chosen[: self.chosen.rfind(_HH_LAST_TURN)]

    @property
    def chosen_reply(self) -> str:
        return _last_turn(self.chosen)

    @property
    def rejected_reply(self) -> str:
        return _last_turn(self.rejected)

    @property
    def same_prompt(self) -> bool:
        """Whether both dialogues share the prompt (17 of 8552 test pairs do not)."""
        return self.rejected[: self.rejected.rfind(_HH_LAST_TURN)] == self.prompt


def load_crupi(path: str | Path) -> list[CrupiItem]:
    """Crupi et al.'s CSV: target, summary_postprocessed, CA_1..3, Conciseness_1..3, Fluency_1..3.

    `target` may hold code in any language; the language is read from a name like CS-benchmark-Java.csv.
    """
    path = Path(path)
    match = re.search(r"benchmark-(\w+)\.csv$", path.name)
    language = match.group(1).lower() if match else None
    rating_columns = [f"{prefix}_{i}" for prefix in CRUPI_CRITERIA.values() for i in range(1, CRUPI_RATERS + 1)]
    items = []
    with open_text(path) as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}:1: cannot read the header ({exc}); expected a UTF-8 CSV file") from None
        if header is None:
            raise InputError(f"{path}:1: the file is empty; expected a header row with target, "
                             f"summary_postprocessed, {', '.join(rating_columns)}")
        missing = [c for c in ["target", "summary_postprocessed", *rating_columns] if c not in header]
        if missing:
            raise InputError(f"{path}:1: missing column(s) {', '.join(missing)}; is this Crupi et al.'s "
                             f"CS-benchmark CSV?")
        start = reader.line_num + 1
        try:
            for row in reader:
                if row:
                    items.append(_crupi_item(path, start, header, row, language))
                start = reader.line_num + 1
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}:{start}: cannot parse this row ({exc}); check its quoting and encoding") \
                from None
    return items


def _crupi_item(path: Path, line: int, header: list[str], row: list[str], language: str | None) -> CrupiItem:
    if len(row) != len(header):
        raise InputError(f"{path}:{line}: row has {len(row)} fields, the header {len(header)}; "
                         f"check the quoting of multi-line code")
    record = dict(zip(header, row, strict=True))
    for field in ("target", "summary_postprocessed"):
        if not record[field].strip():
            raise InputError(f"{path}:{line}: field '{field}' is empty; every row needs code and a summary")
    ratings = {}
    for criterion, prefix in CRUPI_CRITERIA.items():
        scores = []
        for i in range(1, CRUPI_RATERS + 1):
            field, text = f"{prefix}_{i}", record[f"{prefix}_{i}"].strip()
            if not text.isdigit() or not CRUPI_SCALE[0] <= int(text) <= CRUPI_SCALE[1]:
                raise InputError(f"{path}:{line}: field '{field}' is {text!r}; ratings are integers "
                                 f"{CRUPI_SCALE[0]}..{CRUPI_SCALE[1]}")
            scores.append(int(text))
        ratings[criterion] = tuple(scores)
    return CrupiItem(target_id=record.get("target_id") or f"line-{line}", code=record["target"],
                     summary=record["summary_postprocessed"], generated_by=record.get("generated_by", ""),
                     ratings=ratings, language=language, line=line)


def load_autoj(path: str | Path) -> list[AutojItem]:
    """Auto-J's pairwise jsonl: prompt, "response 1", "response 2", label 0/1/2, scenario."""
    path = Path(path)
    items = []
    for line, record in records(path):
        for field in ("prompt", "response 1", "response 2", "scenario"):
            _require_str(path, line, record, field)
        label = record.get("label")
        if type(label) is not int or label not in (0, 1, 2):
            raise InputError(f"{path}:{line}: field 'label' is {label!r}; it must be 0 (response 1 better), "
                             f"1 (response 2 better) or 2 (tie)")
        verdict = cast(Literal[0, 1, 2], label)
        items.append(AutojItem(prompt=record["prompt"], response_1=record["response 1"],
                               response_2=record["response 2"], label=verdict, scenario=record["scenario"],
                               line=line))
    return items


def load_hh_rlhf(path: str | Path) -> list[HHItem]:
    """Anthropic HH-RLHF jsonl(.gz) with chosen / rejected dialogues; a folder loads every *.jsonl.gz in it."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl.gz"))
        if not files:
            raise InputError(f"{path}: no *.jsonl.gz files in this folder")
        return [item for file in files for item in load_hh_rlhf(file)]
    subset = path.name.split(".")[0]
    items = []
    for line, record in records(path):
        for field in ("chosen", "rejected"):
            _require_str(path, line, record, field)
            if _HH_LAST_TURN not in record[field]:
                raise InputError(f"{path}:{line}: field '{field}' has no '\\n\\nAssistant:' turn; "
                                 f"expected an HH-RLHF dialogue")
        items.append(HHItem(chosen=record["chosen"], rejected=record["rejected"], subset=subset, line=line))
    return items


def _last_turn(dialogue: str) -> str:
    return dialogue[dialogue.rfind(_HH_LAST_TURN) + len(_HH_LAST_TURN):].strip()


def _require_str(path: Path, line: int, record: dict[str, Any], field: str) -> None:
    if field not in record:
        raise InputError(f"{path}:{line}: field '{field}' is missing; present: {', '.join(sorted(record))}")
    if not isinstance(record[field], str):
        raise InputError(f"{path}:{line}: field '{field}' must be a string, got {type(record[field]).__name__}")
