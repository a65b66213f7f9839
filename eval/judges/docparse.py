"""Read what a piece of documentation claims, and what a Python function's code actually does.

The documentation may be a docstring (Google, NumPy or Sphinx style, read with `docstring_parser`) or
Markdown (sections as headings, bold lines or `Title:` lines; parameters as bullets or table rows).
"""

from __future__ import annotations

import ast
import re
import textwrap
import threading
from dataclasses import dataclass
from typing import Any

import docstring_parser

from docflywheel.errors import InputError

PYTHON_LANGS = {"python", "py", "python3", "pycon", "doctest", "ipython"}
OUTPUT_LANGS = {"", "text", "txt", "output", "console", "stdout", "plaintext"}
SECTION_NAMES = {
    "parameters": ("parameters", "params", "arguments", "args", "keyword arguments", "keyword args",
                   "other parameters", "inputs"),
    "returns": ("returns", "return", "return value", "return values", "output"),
    "yields": ("yields", "yield"),
    "raises": ("raises", "exceptions", "errors", "throws"),
    "examples": ("examples", "example", "usage", "example usage"),
    "notes": ("notes", "note", "remarks"),
    "see_also": ("see also", "related", "references", "links"),
}
_CANONICAL = {alias: name for name, aliases in SECTION_NAMES.items() for alias in aliases}
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<code>.*?)"
                    r"^[ \t]*(?P=fence)[ \t]*$", re.S | re.M)
_RST_BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. (?:code-block|code|sourcecode)::[ \t]*(?P<lang>\w*)[^\n]*\n"
                        r"(?:[ \t]*:\w[^\n]*\n)*(?P<code>(?:[ \t]*\n|(?P=indent)[ \t]+[^\n]*\n?)+)", re.M)
_HEADING = re.compile(r"^[ \t]*(?:#{1,6}[ \t]*(?P<md>[^\n#]+?)[ \t]*#*|\*\*(?P<bold>[^*\n]+?):?\*\*:?"
                      r"|(?P<colon>[A-Z][A-Za-z ]{1,30}):|(?P<numpy>[A-Z][A-Za-z ]{1,30})\n[ \t]*-{3,})[ \t]*$", re.M)
_RST_FIELD = re.compile(r"^[ \t]*:(?P<kind>param|parameter|arg|argument|key|keyword|type|returns?|rtype|yields?"
                        r"|raises?|except|exception)(?P<rest>[^:\n]*):", re.M)
_ITEM = re.compile(r"^[ \t]*(?:[-*+][ \t]+|\d+[.)][ \t]+|\|[ \t]*)?(?:`|\*\*|\*(?![*\w]))*"
                   r"(?P<names>\*{0,2}[A-Za-z_]\w*(?:[ \t]*,[ \t]*\*{0,2}[A-Za-z_]\w*)*)"
                   r"(?:`|\*\*|\*)*[ \t]*(?=$|[:(|,\u2013\u2014-]|[ \t]+[-\u2013\u2014(:]|[ \t]+\(|[ \t]*\|)")
_EXCEPTION = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt)|StopIteration)\b")


@dataclass(frozen=True)
class Block:
    """A code block in the documentation; `start` is its offset in the text."""

    lang: str
    code: str
    start: int
    end: int

    @property
    def is_python(self) -> bool:
        return self.lang in PYTHON_LANGS or (self.lang == "" and ">>>" in self.code)


@dataclass(frozen=True)
class CodeFacts:
    """What the function's code says: its parameters, whether it returns or yields, what it raises."""

    params: tuple[str, ...]  # named ones, self / cls left out
    var_positional: str | None
    var_keyword: str | None
    returns_value: bool
    is_generator: bool
    raises: frozenset[str]


def code_blocks(text: str) -> list[Block]:
    """Fenced (``` or ~~~) and reST code-block directives, in the order they appear."""
    blocks = [Block(m["lang"].lower(), textwrap.dedent(m["code"]), m.start(), m.end()) for m in _FENCE.finditer(text)]
    for m in _RST_BLOCK.finditer(text):
        if not any(b.start <= m.start() < b.end for b in blocks):
            blocks.append(Block(m["lang"].lower(), textwrap.dedent(m["code"]).strip("\n") + "\n", m.start(), m.end()))
    return sorted(blocks, key=lambda b: b.start)


def prose(text: str) -> str:
    """The text with its code blocks blanked out (line count kept)."""
    for block in reversed(code_blocks(text)):
        text = text[:block.start] + "\n" * text.count("\n", block.start, block.end) + text[block.end:]
    return text


def sections(text: str) -> dict[str, str]:
    """Canonical section name -> its body, for the sections this prose has (unknown titles are kept too)."""
    found: dict[str, str] = {}
    heads = list(_HEADING.finditer(text))
    for i, m in enumerate(heads):
        title = next(g for g in m.group("md", "bold", "colon", "numpy") if g).strip().rstrip(":").lower()
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        found.setdefault(_CANONICAL.get(title, title), text[m.end():end])
    for m in _RST_FIELD.finditer(text):
        kind = m["kind"]
        name = ("parameters" if kind in ("param", "parameter", "arg", "argument", "key", "keyword", "type")
                else "returns" if kind.startswith(("return", "rtype")) else "yields" if kind.startswith("yield")
                else "raises")
        found.setdefault(name, "")
    return found


def documented_params(text: str) -> set[str] | None:
    """Parameter names the documentation lists; None when it has no parameter list (plain prose)."""
    body = prose(text)
    names: set[str] = set()
    parsed = _parse_docstring(body)
    if parsed is not None:
        for param in parsed.params:
            names.update(_split_names(param.arg_name))
    listed = sections(body).get("parameters")
    if listed is not None:
        names.update(_listed_names(listed))
    return names if names or listed is not None else None


def mentioned(text: str, name: str) -> bool:
    """Whether `name` appears marked up in the prose: `name`, ``name``, *name*, **name**, 'name' or "name"."""
    pattern = rf"(?:`{{1,2}}|\*{{1,2}}|'|\")\*{{0,2}}{re.escape(name)}(?:`{{1,2}}|\*{{1,2}}|'|\")"
    return re.search(pattern, prose(text)) is not None


def documented_return(text: str) -> str | None:
    """"value" if the docs claim a return value, "none" if they say None, "mentioned" if they only talk of it."""
    body = prose(text)
    found = sections(body)
    section = found.get("returns", found.get("yields"))
    if section and section.strip():
        return "none" if re.match(r"\W*None\b", section.strip()) else "value"
    parsed = _parse_docstring(body)
    if parsed and parsed.returns:
        said_type, said_what = (parsed.returns.type_name or "").strip(), (parsed.returns.description or "").strip()
        if said_type == "None" or (not said_type and re.match(r"None\b", said_what)):
            return "none"
        if said_type or said_what:
            return "value"
    if re.search(r"\breturns?\W{0,3}None\b", body, re.I):
        return "none"
    if section is not None or re.search(r"\b(returns?|returned|returning|yields?)\b", body, re.I):
        return "mentioned"
    return None


def documented_raises(text: str) -> set[str]:
    """Exception names the documentation says can be raised."""
    body = prose(text)
    parsed = _parse_docstring(body)
    names = {r.type_name.split(".")[-1] for r in parsed.raises if r.type_name} if parsed else set()
    names.update(_EXCEPTION.findall(sections(body).get("raises", "")))
    names.update(m.group(1) for m in re.finditer(r"\b(?:raises?|raised|throws?)\s+(?:an?\s+)?`*(\w+)", body, re.I)
                 if _EXCEPTION.fullmatch(m.group(1)))
    return names


def summary_line(text: str) -> tuple[str, bool]:
    """The first line of prose (headings skipped) and whether it stands alone as a one-line paragraph."""
    lines = prose(text).strip("\n").splitlines()
    i = 0
    while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
        i += 1
    if i == len(lines):
        return "", False
    alone = i + 1 == len(lines) or not lines[i + 1].strip()
    return lines[i].strip(), alone


# CPython 3.11 keeps the AST builder's recursion counter in interpreter-wide state, so two threads
# compiling at once can fail with "AST constructor recursion depth mismatch" (python/cpython#106905):
# the verifiers run in threads, so they compile one at a time.
_COMPILE_LOCK = threading.Lock()


def compile_python(source: str, mode: str = "exec", flags: int = 0) -> Any:
    """`compile(source, "<doc>", mode, flags)`, safe to call from several threads; raises SyntaxError."""
    with _COMPILE_LOCK:
        return compile(source, "<doc>", mode, flags, dont_inherit=True)


def code_facts(source: str, qualname: str) -> CodeFacts:
    """Facts about the function `qualname` ("wrap", "TextWrapper.wrap") defined in `source`."""
    try:
        tree = compile_python(textwrap.dedent(source), flags=ast.PyCF_ONLY_AST)
    except SyntaxError as exc:
        raise InputError(f"target source does not parse (line {exc.lineno}: {exc.msg}); give the function's "
                         f"Python source") from None
    fn, in_class = _find_function(tree, qualname.split("."))
    if fn is None:
        raise InputError(f"no function {qualname!r} in the target source; check the task's qualname")
    args = fn.args
    positional = [a.arg for a in args.posonlyargs + args.args]
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in fn.decorator_list)
    if in_class and not static and positional:
        positional = positional[1:]
    nodes = list(_own_nodes(fn))
    returns = any(isinstance(n, ast.Return) and n.value is not None
                  and not (isinstance(n.value, ast.Constant) and n.value.value is None) for n in nodes)
    raised = {_exception_name(n.exc) for n in nodes if isinstance(n, ast.Raise) and n.exc is not None}
    return CodeFacts(params=tuple(positional + [a.arg for a in args.kwonlyargs]),
                     var_positional=args.vararg.arg if args.vararg else None,
                     var_keyword=args.kwarg.arg if args.kwarg else None,
                     returns_value=returns, is_generator=any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in nodes),
                     raises=frozenset(r for r in raised if r and r[0].isupper()))


def _parse_docstring(text: str) -> docstring_parser.Docstring | None:
    """docstring_parser's reading of model-written text, or None where it cannot (or it crashes on it:
    version 0.17 raises IndexError on a field marker with an empty name, such as ':  : y')."""
    try:
        return docstring_parser.parse(text)
    except (docstring_parser.ParseError, IndexError, ValueError, KeyError, AttributeError):
        return None


def _split_names(text: str) -> set[str]:
    head = re.split(r"[(:]", text, maxsplit=1)[0]
    return {n.strip().lstrip("*").strip("`") for n in head.split(",") if n.strip().lstrip("*").strip("`")}


def _listed_names(body: str) -> set[str]:
    lines = [line for line in body.splitlines() if line.strip()]
    bullets = [line for line in lines if re.match(r"[ \t]*(?:[-*+]|\d+[.)]|\|)[ \t]", line)]
    if bullets:
        lines = [line for line in bullets if not re.match(r"[ \t]*\|[ \t:-]*-{3,}", line)]
    else:
        indent = min(len(line) - len(line.lstrip()) for line in lines) if lines else 0
        lines = [line for line in lines if len(line) - len(line.lstrip()) == indent]
    names: set[str] = set()
    for line in lines:
        m = _ITEM.match(line)
        if m and m["names"].lower() not in ("name", "parameter", "argument", "param", "arg"):
            names.update(n.strip().lstrip("*") for n in m["names"].split(","))
    return names


def _find_function(tree: ast.AST, parts: list[str]) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef | None, bool]:
    scope, in_class = tree, False
    for i, part in enumerate(parts):
        match = next((n for n in getattr(scope, "body", []) if getattr(n, "name", None) == part), None)
        if match is None:
            if i == 0 and len(parts) > 1:
                return _find_function(tree, parts[1:])  # a module prefix such as textwrap.wrap
            return None, False
        if i < len(parts) - 1:
            in_class = isinstance(match, ast.ClassDef)
            scope = match
        elif isinstance(match, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return match, in_class
    return None, False


def _own_nodes(fn: ast.AST):  # type: ignore[no-untyped-def]
    """Nodes of the function body, not descending into nested functions, lambdas or classes."""
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def _exception_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""
