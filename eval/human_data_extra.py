"""Loaders for the reference-based human sets (no code): Haque et al. 2022 and Shi et al. 2022.

Both rate how similar a model's summary is to the human reference, so each loads into `SimilarityItem`s.
A malformed row raises `InputError` naming the file, the line and the field.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from docflywheel.errors import InputError

HAQUE_FILE, HAQUE_SCALE = "final_megafile.csv", (1, 4)
SHI_FILE, SHI_SCALE, SHI_RATERS = "human_evaluation_1.csv", (0, 4), 5


@dataclass(frozen=True)
class SimilarityItem:
    """A candidate summary, its reference, and each rater's similarity rating."""

    item_id: str
    candidate: str
    reference: str
    ratings: tuple[int, ...]
    line: int

    def median(self) -> float:
        return float(statistics.median(self.ratings))


def load_haque(path: str | Path) -> list[SimilarityItem]:
    """Haque et al.'s final_megafile.csv (or its folder): one item per function, similarity 1-4 by six raters.

    Similarity is symmetric, so every rater's answer counts whichever of the two summaries they saw first.
    """
    path = _file(path, HAQUE_FILE)
    rows = _rows(path, ("function_id", "similarity", "source", "text", "text.1"))
    by_function: dict[str, list[tuple[int, dict[str, str]]]] = defaultdict(list)
    for line, row in rows:
        by_function[row["function_id"]].append((line, row))
    items = []
    for function_id, group in by_function.items():
        line, first = group[0]
        reference, candidate = ((first["text"], first["text.1"]) if first["source"] == "reference"
                                else (first["text.1"], first["text"]))
        ratings = tuple(_rating(path, ln, row, "similarity", HAQUE_SCALE) for ln, row in group)
        items.append(SimilarityItem(function_id, candidate.strip(), reference.strip(), ratings, line))
    return items


def load_shi(path: str | Path) -> list[SimilarityItem]:
    """Shi et al.'s human_evaluation_1.csv (or its folder): Target, Generated, volunteer1..5 rated 0-4."""
    path = _file(path, SHI_FILE)
    raters = [f"volunteer{i}" for i in range(1, SHI_RATERS + 1)]
    items = []
    for line, row in _rows(path, ("Target", "Generated", *raters)):
        ratings = tuple(_rating(path, line, row, r, SHI_SCALE) for r in raters)
        items.append(SimilarityItem(row.get("row_id") or f"line-{line}", row["Generated"].strip(),
                                    row["Target"].strip(), ratings, line))
    return items


def _file(path: str | Path, name: str) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / name
    if not path.is_file():
        raise InputError(f"{path}: no such file; give the path to {name} or its folder")
    return path


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"{path}:1: missing column(s) {', '.join(missing)}; is this the right file?")
            rows, start = [], 2
            for row in reader:
                rows.append((start, row))
                start = reader.line_num + 1
            return rows
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot parse the CSV ({exc}); expected a UTF-8 CSV file") from None


def _rating(path: Path, line: int, row: dict[str, str], field: str, scale: tuple[int, int]) -> int:
    text = (row.get(field) or "").strip()
    if not text.lstrip("-").isdigit() or not scale[0] <= int(text) <= scale[1]:
        raise InputError(f"{path}:{line}: field '{field}' is {text!r}; ratings are integers {scale[0]}..{scale[1]}")
    return int(text)
