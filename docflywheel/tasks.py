"""Documentation tasks: extracted from an installed package's source with `ast`, or read from JSONL."""

from __future__ import annotations

import ast
import importlib.util
import json
import sysconfig
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

from pydantic import ValidationError

from docflywheel.errors import InputError
from docflywheel.records import Task

KINDS = ("function", "class", "module")
_MAX_FIELD_CHARS = 200_000  # a task field past this is almost surely not code someone wants documented


def package_files(name: str) -> tuple[Path, list[Path]]:
    """The root folder and the sorted .py files of an installed package or module."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin == "frozen":  # e.g. os, codecs: the source still lies in the stdlib
        source = Path(sysconfig.get_paths()["stdlib"]) / f"{name.replace('.', '/')}.py"
        if source.is_file():
            return source.parent, [source]
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        raise InputError(f"package '{name}' is not installed (or has no Python source): "
                         f"install it or name another, e.g. `docflywheel tasks add-package json`")
    if spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations)))
        files = sorted(p for p in root.rglob("*.py")
                       if not any(part in ("tests", "test", "__pycache__") for part in p.relative_to(root).parts))
        return root.parent, files
    origin = Path(spec.origin)
    if origin.suffix != ".py":
        raise InputError(f"package '{name}' is a compiled module ({origin.name}) with no Python source to document")
    return origin.parent, [origin]


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_public(name: str) -> bool:
    return not name.startswith("_")


def _strip_docstrings(source: str, node: ast.AST) -> str:
    """The source of `node` with every docstring inside it removed (the reference must not leak)."""
    lines = source.splitlines(keepends=True)
    start, end = node.lineno - 1, node.end_lineno  # type: ignore[attr-defined]
    if isinstance(node, ast.Module):
        start, end = 0, len(lines)
    drop: set[int] = set()
    for inner in ast.walk(node):
        if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) and inner.body:
            first = inner.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                drop.update(range(first.lineno - 1, first.end_lineno))  # type: ignore[arg-type]
    kept = [line for i, line in enumerate(lines[start:end], start) if i not in drop]
    text = "".join(kept)
    if isinstance(node, ast.Module):
        return text.strip("\n")
    return textwrap.dedent(text).strip("\n")


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    if isinstance(node, ast.ClassDef):
        bases = ", ".join(ast.unparse(b) for b in node.bases)
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        head = f"class {node.name}" + (f"({bases})" if bases else "")
        return head + (f"  # __init__({ast.unparse(init.args)})" if init else "")
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"{prefix} {node.name}({ast.unparse(node.args)}){returns}"


def _module_outline(tree: ast.Module) -> str:
    """What a module overview is written from: its imports and its public signatures."""
    lines = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            lines.append(ast.unparse(node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _is_public(node.name):
            lines.append(_signature(node) + ": ...")
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            lines.append(ast.unparse(node))
    return "\n".join(lines)


def extract_tasks(package: str, kinds: Sequence[str] = KINDS, limit: int | None = None) -> list[Task]:
    """One task per public function, class (and their public methods, as functions) and module."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise InputError(f"unknown task kind(s) {', '.join(unknown)}: choose from {', '.join(KINDS)}")
    root, files = package_files(package)
    tasks: list[Task] = []
    for path in files:
        tasks.extend(_file_tasks(root, path, package, set(kinds)))
        if limit is not None and len(tasks) >= limit:
            return tasks[:limit]
    return tasks


def _file_tasks(root: Path, path: Path, package: str, kinds: set[str]) -> Iterator[Task]:
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return
    module = _module_name(root, path)
    if not module or any(not _is_public(part) for part in module.split(".")[1:]):
        return
    common = {"language": "python", "package": package, "file": str(path), "source": f"package:{package}"}
    if "module" in kinds and (outline := _module_outline(tree)):
        yield Task(qualname=module, kind="module", code=outline, reference=ast.get_docstring(tree), line=1, **common)
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or not _is_public(node.name):
            continue
        qualname = f"{module}.{node.name}"
        kind = "class" if isinstance(node, ast.ClassDef) else "function"
        if kind in kinds and _has_code(node):
            yield _node_task(source, node, qualname, kind, common)
        if isinstance(node, ast.ClassDef) and "function" in kinds:
            for method in node.body:
                if (isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_public(method.name)
                        and _has_code(method)):
                    yield _node_task(source, method, f"{qualname}.{method.name}", "function", common)


def _has_code(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
    """False for a body that is nothing but its docstring: there is no code left to show."""
    return len(node.body) > 1 or ast.get_docstring(node) is None


def _node_task(source: str, node: ast.AST, qualname: str, kind: str, common: dict[str, str]) -> Task:
    return Task(qualname=qualname, kind=kind, code=_strip_docstrings(source, node),  # type: ignore[arg-type]
                signature=_signature(node), reference=ast.get_docstring(node),  # type: ignore[arg-type]
                line=node.lineno, **common)  # type: ignore[attr-defined]


def read_jsonl(path: Path) -> list[Task]:
    """Every task in a JSONL file, or an InputError naming the first bad line and field."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file: check the path") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a JSONL file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 text (byte {error.start}): save the file as UTF-8") from None
    if text.lstrip().startswith("["):
        raise InputError(f"{path}: holds a JSON array, not JSONL: write one task object per line "
                         f"(`jq -c '.[]' {path}` does it)")
    tasks = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if "\x00" in line:
            raise InputError(f"{path}:{number}: binary content (NUL byte): a task file is UTF-8 JSON, one object per line")
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}:{number}: expected a JSON object with qualname, kind and code, got {type(data).__name__}")
        for field, value in data.items():
            if isinstance(value, str) and len(value) > _MAX_FIELD_CHARS:
                raise InputError(f"{path}:{number}: field '{field}' is {len(value):,} characters, over the "
                                 f"{_MAX_FIELD_CHARS:,} limit: shorten it or split the task")
        declared_id = data.get("id")
        try:
            task = Task.model_validate({k: v for k, v in data.items() if k not in ("id", "created_at")})
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(row)"
            raise InputError(f"{path}:{number}: field '{field}': {first['msg']}") from None
        if declared_id is not None and declared_id != task.id:
            raise InputError(f"{path}:{number}: field 'id': {declared_id} does not match the task's content "
                             f"({task.id}); remove the id to let docflywheel compute it")
        tasks.append(task)
    if not tasks:
        raise InputError(f"{path}: holds no tasks: write one JSON object per line")
    return tasks


def write_jsonl(tasks: Sequence[Task], path: Path) -> int:
    """Write tasks as JSONL (the format `read_jsonl` reads back); returns the count."""
    tmp = Path(path).with_suffix(Path(path).suffix + ".partial")
    with open(tmp, "w", encoding="utf-8") as handle:
        for task in tasks:
            handle.write(json.dumps(task.model_dump(), ensure_ascii=False) + "\n")
    tmp.replace(path)
    return len(tasks)
