"""Human labels from a CSV or JSONL file, checked against the store and stored all or nothing.

Pointwise rows: generation_id, criterion, score (1-5), annotator[, comment].
Pairwise rows: generation_id, generation_b_id, criterion, verdict (a, b or tie), annotator[, comment].
A row's id hashes everything it says, so importing the same file twice stores it once.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docflywheel.errors import InputError
from docflywheel import jsonl
from docflywheel.records import content_id
from docflywheel.store import Store

SCALE = (1.0, 5.0)
VERDICTS = {"a": "A", "b": "B", "tie": "tie"}  # stored as the dashboard stores them
REQUIRED = ("generation_id", "criterion", "annotator")
OPTIONAL = ("generation_b_id", "score", "verdict", "comment")
TABLE = "human_labels"


@dataclass(frozen=True)
class ImportResult:
    """How many label rows a file held and how many of them were not stored before."""

    read: int
    new: int
    pointwise: int
    pairwise: int


def read_labels(path: str | Path, store: Store) -> list[dict[str, Any]]:
    """The `human_labels` rows of a CSV or JSONL file; the first bad row raises one `InputError` naming it.

    Every generation id must be stored in `store`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; give a CSV or JSONL file of labels")
    records = list(_csv(path) if path.suffix.lower() == ".csv" else jsonl.records(path))
    if not records:
        raise InputError(f"{path}: no label rows; expected {', '.join(REQUIRED)} and a score or a verdict per row")
    rows = [(line, _row(path, line, record)) for line, record in records]
    _check_generations(path, rows, store)
    return [row for _, row in rows]


def import_labels(store: Store, path: str | Path) -> ImportResult:
    """Store the labels of a file: all of them, or none when any row is bad."""
    rows = read_labels(path, store)
    pairwise = sum(row["generation_b_id"] is not None for row in rows)
    return ImportResult(read=len(rows), new=store.insert(TABLE, rows), pointwise=len(rows) - pairwise,
                        pairwise=pairwise)


def _row(path: Path, line: int, record: dict[str, Any]) -> dict[str, Any]:
    where = f"{path}:{line}"
    unknown = sorted(set(record) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}; a label has "
                         f"{', '.join(REQUIRED + OPTIONAL)}")
    values = {name: _text(record.get(name)) for name in (*REQUIRED, "generation_b_id", "comment")}
    for name in REQUIRED:
        if values[name] is None:
            raise InputError(f"{where}: field '{name}' is missing or empty; every label needs "
                             f"{', '.join(REQUIRED)}")
    score, verdict = record.get("score"), _text(record.get("verdict"))
    score = None if score is None or (isinstance(score, str) and not score.strip()) else score
    if values["generation_b_id"] is None:
        if verdict is not None:
            raise InputError(f"{where}: field 'verdict' needs 'generation_b_id' (the second of the pair); "
                             f"a label of one generation has a score instead")
        value = _score(where, score)
    else:
        if score is not None:
            raise InputError(f"{where}: field 'score' given for a pair; a pair label has a verdict (a, b or tie)")
        if values["generation_b_id"] == values["generation_id"]:
            raise InputError(f"{where}: field 'generation_b_id' equals 'generation_id'; a pair needs two "
                             f"different generations")
        if verdict is None or verdict.lower() not in VERDICTS:
            raise InputError(f"{where}: field 'verdict' is {record.get('verdict')!r}; use a (the first is "
                             f"better), b (the second) or tie")
        value, verdict = None, VERDICTS[verdict.lower()]
    row = {"generation_id": values["generation_id"], "generation_b_id": values["generation_b_id"],
           "criterion": values["criterion"], "score": value, "verdict": verdict,
           "annotator": values["annotator"], "comment": values["comment"], "status": "labelled"}
    return {"id": content_id("label", row), **row}


def _score(where: str, value: Any) -> float:
    try:
        score = float(value) if not isinstance(value, bool) and value is not None else math.nan
    except (TypeError, ValueError):
        score = math.nan
    if not SCALE[0] <= score <= SCALE[1]:
        raise InputError(f"{where}: field 'score' is {value!r}; a pointwise label needs a number from "
                         f"{SCALE[0]:g} to {SCALE[1]:g} (or give generation_b_id and a verdict for a pair)")
    return score


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _check_generations(path: Path, rows: list[tuple[int, dict[str, Any]]], store: Store) -> None:
    wanted = {row[name] for _, row in rows for name in ("generation_id", "generation_b_id") if row[name]}
    known = store.existing_ids("generations", sorted(wanted))
    for line, row in rows:
        for name in ("generation_id", "generation_b_id"):
            if row[name] is not None and row[name] not in known:
                raise InputError(f"{path}:{line}: field '{name}' is {row[name]!r}, which is not a generation in "
                                 f"{store.path}; check the id or pass the right --db")


def _csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        start = 2
        try:
            for record in reader:
                if None in record:
                    raise InputError(f"{path}:{start}: more fields than the header names; check the quoting")
                if any(v and v.strip() for v in record.values()):
                    yield start, record
                start = reader.line_num + 1
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}:{start}: cannot parse this row ({exc}); expected a UTF-8 CSV file") from None


