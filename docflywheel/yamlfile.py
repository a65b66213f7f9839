"""YAML files that users edit (config, constitution, rubric): read, validate, and say exactly what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from docflywheel.errors import InputError

M = TypeVar("M", bound=BaseModel)


def read_mapping(path: Path, what: str, expected: str, error: type[InputError] = InputError) -> dict[str, Any]:
    """The top-level mapping of a YAML file, or an error naming the file (and line, for bad YAML)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist: give the path of a YAML file") from None
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        raise error(f"{path}{f':{mark.line + 1}' if mark else ''}: not valid YAML "
                    f"({getattr(problem, 'problem', problem)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping with {expected} at the top level")
    return data


def validate_items(path: Path, data: dict[str, Any], model: type[M], items: str, label: str) -> M:
    """Validate `data`, whose `items` field is a list of entries with ids; errors name the entry and field."""
    try:
        result = model.model_validate(data)
    except ValidationError as problem:
        first = problem.errors()[0]
        loc = list(first["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == items and isinstance(loc[1], int):
            entries = data.get(items) or []
            entry = entries[loc[1]] if loc[1] < len(entries) else None
            name = entry.get("id") if isinstance(entry, dict) else None
            where = f"{label} {name or '#' + str(loc[1] + 1)}, "
            loc = loc[2:]
        field = ".".join(str(part) for part in loc) or f"(whole {label})"
        message = first["msg"].removeprefix("Value error, ")
        raise InputError(f"{path}: {where}field '{field}': {message}") from None
    ids = [entry.id for entry in getattr(result, items)]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise InputError(f"{path}: {label} id(s) {', '.join(duplicated)} appear more than once: make each id unique")
    return result
