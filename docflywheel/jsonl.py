"""Reading JSON Lines files (plain or gzip) with errors that name the file, the line and what is wrong."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from docflywheel.errors import InputError


def open_text(path: Path) -> TextIO:
    """A UTF-8 text file, gunzipped on the fly when its name ends in .gz."""
    if not path.is_file():
        raise InputError(f"{path}: no such file; give the path to the data file")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; one clear InputError for the first line that is not an object."""
    line = 0
    try:
        with open_text(path) as fh:
            for line, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{line}: not valid JSON ({exc.msg} at column {exc.colno}); "
                                     f"each line must be one JSON object") from None
                if not isinstance(record, dict):
                    raise InputError(f"{path}:{line}: expected a JSON object, got {type(record).__name__}")
                yield line, record
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise InputError(f"{path}:{line + 1}: cannot read the file ({exc}); is it a complete, "
                         f"UTF-8 {'gzip ' if path.suffix == '.gz' else ''}jsonl file?") from None
