"""Verifiers: checks of generated documentation for a Python function that need no model.

Each returns a `VerifierScore`: a value in 0..1 (None when the check does not apply to this document),
pass / fail, a one-line explanation, and evidence such as the failing example and what it printed.
Examples run only inside the sandbox (`docflywheel.eval.sandbox`), against the real function.
"""

from __future__ import annotations

import doctest
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docflywheel.errors import InputError
from docflywheel.eval.judges.docparse import (
    OUTPUT_LANGS,
    code_blocks,
    code_facts,
    compile_python,
    documented_params,
    documented_raises,
    documented_return,
    mentioned,
    prose,
    sections,
    summary_line,
)
from docflywheel.eval.sandbox import SandboxLimits, run_python

VERSION = "1"  # bump when a verifier's scoring changes, so stored judgments stay comparable
EXAMPLE_LIMITS = SandboxLimits(cpu_seconds=10, wall_seconds=20)
_RUNNER = Path(__file__).with_name("example_runner.py")
# Examples that reach for these could rewrite their own results; they fail without being run.
_TAMPERING = re.compile(r"results\.json|units\.json|_getframe|\bgc\b|ctypes|settrace|setprofile|__builtins__"
                        r"|\bimport builtins|\bbuiltins\.")


@dataclass(frozen=True)
class PythonTarget:
    """The function a document is about: its qualname, source, and the module that holds it, if importable."""

    qualname: str
    source: str
    module: str | None = None

    @classmethod
    def from_object(cls, obj: Callable[..., Any]) -> PythonTarget:
        """The target for a live function or method (its module's source, so methods keep their class)."""
        module = inspect.getmodule(obj)
        if module is None:
            raise InputError(f"cannot tell which module {obj!r} comes from; build a PythonTarget by hand")
        try:
            source = inspect.getsource(module if "." in obj.__qualname__ else obj)
        except (OSError, TypeError):
            raise InputError(f"no Python source for {module.__name__}.{obj.__qualname__} (a C function?); "
                             f"verifiers need the source") from None
        return cls(qualname=obj.__qualname__, source=source, module=module.__name__)


@dataclass(frozen=True)
class VerifierScore:
    verifier: str
    value: float | None
    passed: bool | None
    explanation: str
    evidence: dict[str, Any] = field(default_factory=dict)


def check_parameters(doc: str, target: PythonTarget) -> VerifierScore:
    """Documented parameters against the real signature: none missing, none invented."""
    facts = code_facts(target.source, target.qualname)
    required = set(facts.params)
    documented = documented_params(doc)
    if documented is None:
        found = {p for p in required if mentioned(doc, p)}
        missing = sorted(required - found)
        value = len(found) / len(required) if required else 1.0
        return VerifierScore("parameters", value, not missing,
                             f"no parameter list; {len(found)} of {len(required)} parameters named in the prose",
                             {"style": "prose", "missing": missing, "invented": None})
    extra = documented - required - {facts.var_positional, facts.var_keyword}
    invented = sorted(extra) if facts.var_keyword is None else []
    missing = sorted(required - documented)
    denominator = len(required) + len(invented)
    value = len(required & documented) / denominator if denominator else 1.0
    problems = [f"missing {', '.join(missing)}"] * bool(missing) + [f"invented {', '.join(invented)}"] * bool(invented)
    if extra and facts.var_keyword:
        problems.append(f"{', '.join(sorted(extra))} only possible through **{facts.var_keyword}")
    return VerifierScore("parameters", value, not missing and not invented,
                         "; ".join(problems) or f"all {len(required)} parameters documented, none invented",
                         {"style": "list", "missing": missing, "invented": invented,
                          "through_kwargs": sorted(extra) if facts.var_keyword else [],
                          "signature": list(facts.params)})


def check_returns_raises(doc: str, target: PythonTarget) -> VerifierScore:
    """What the docs say is returned and raised against the return and raise statements of the code."""
    facts = code_facts(target.source, target.qualname)
    gives = facts.returns_value or facts.is_generator
    said = documented_return(doc)
    doc_raises = documented_raises(doc)
    problems = []
    if gives and said is None:
        problems.append("the return value is not documented")
    if gives and said == "none":
        problems.append("says it returns None but the code returns a value")
    if not gives and said == "value":
        problems.append("documents a return value the code never returns")
    undocumented = sorted(facts.raises - doc_raises)
    problems += [f"raises {name} undocumented" for name in undocumented]
    value = max(0.0, 1 - len(problems) / (1 + len(facts.raises)))
    return VerifierScore("returns_raises", value, not problems, "; ".join(problems) or "return and raises agree",
                         {"code_raises": sorted(facts.raises), "documented_raises": sorted(doc_raises),
                          "unverified_raises": sorted(doc_raises - facts.raises), "code_returns": gives,
                          "undocumented_raises": undocumented})


def check_code_blocks(doc: str) -> VerifierScore:
    """Every Python code block and doctest example parses."""
    checked, failures = 0, []
    for line, code, is_session in _python_code(doc):
        try:
            sources = [e.source for e in doctest.DocTestParser().get_examples(code)] if is_session else [code]
        except ValueError as exc:
            checked += 1
            failures.append({"line": line, "code": code, "error": str(exc)})
            continue
        for source in sources:
            checked += 1
            try:
                compile_python(source)
            except SyntaxError as exc:
                failures.append({"line": line, "code": source, "error": f"line {exc.lineno}: {exc.msg}"})
    if not checked:
        return VerifierScore("code_blocks", None, None, "no Python code in the document")
    value = 1 - len(failures) / checked
    explanation = (f"{len(failures)} of {checked} code pieces do not parse; first at line {failures[0]['line']}: "
                   f"{failures[0]['error']}" if failures else f"all {checked} code pieces parse")
    return VerifierScore("code_blocks", value, not failures, explanation, {"checked": checked, "failures": failures})


def check_examples(doc: str, target: PythonTarget, *, limits: SandboxLimits = EXAMPLE_LIMITS) -> VerifierScore:
    """Doctest examples and Python code blocks run against the real function, and their shown output matches."""
    units = _example_units(doc)
    if not units:
        return VerifierScore("examples", None, None, "no examples to run")
    total = sum(_count(u) for u in units)
    suspicious = [u for u in units if _TAMPERING.search(u.get("text") or u.get("code") or "")]
    if suspicious:
        return VerifierScore("examples", 0.0, False, "an example reaches into the checker, so none were run",
                             {"passed": 0, "total": total, "failures": suspicious[:1]})
    spec = {"target": {"qualname": target.qualname, "name": target.qualname, "module": target.module,
                       "source": target.source}, "units": units}
    run = run_python(_RUNNER.read_text(encoding="utf-8"), files={"units.json": json.dumps(spec)}, limits=limits,
                     collect=["results.json"])
    report = _load_report(run.files.get("results.json"))
    sandbox = {"status": run.status, "reason": run.reason, "duration_s": round(run.duration_s, 3),
               "stderr": run.stderr[-2000:]}
    if report.get("setup_error"):
        return VerifierScore("examples", None, None, f"the target could not be loaded: {report['setup_error']}",
                             {"sandbox": sandbox})
    results = report.get("results", [])
    passed = sum(1 for r in results if r.get("ok") is True)
    failures = [r for r in results if r.get("ok") is not True][:3]
    if report.get("units_done", 0) < len(units):
        failures.append({"error": f"not all examples ran: sandbox {run.status} ({run.reason or 'no results'})"})
    value = passed / total if total else 0.0
    if failures:
        first = failures[0]
        where = f" at line {first['line']}" if "line" in first else ""
        detail = first.get("error") or f"expected {first.get('expected')!r}, got {first.get('got')!r}"
        explanation = f"{passed} of {total} examples pass; first failure{where}: {detail}"
    else:
        explanation = f"all {total} examples run and show the right output"
    return VerifierScore("examples", value, not failures and passed == total, explanation,
                         {"passed": passed, "total": total, "failures": failures, "sandbox": sandbox})


def check_structure(doc: str, target: PythonTarget) -> VerifierScore:
    """A one-line summary first, then the sections this function needs: parameters, returns, examples."""
    facts = code_facts(target.source, target.qualname)
    line, alone = summary_line(doc)
    found = set(sections(prose(doc)))
    checks = {"one-line summary": bool(line) and alone and len(line) <= 120 and len(line.split()) >= 3
              and not re.match(r"[-*+|>`]|\d+[.)]", line)}
    if facts.params:
        checks["parameters section"] = documented_params(doc) is not None
    if facts.returns_value or facts.is_generator:
        checks["returns section"] = bool({"returns", "yields"} & found) or documented_return(doc) == "value"
    checks["examples"] = "examples" in found or ">>>" in doc or any(b.is_python for b in code_blocks(doc))
    missing = [name for name, ok in checks.items() if not ok]
    return VerifierScore("structure", sum(checks.values()) / len(checks), not missing,
                         f"missing: {', '.join(missing)}" if missing else "summary line and needed sections present",
                         {"summary": line, "sections": sorted(found), "missing": missing})


def check_length(doc: str, *, min_words: int = 15, max_words: int = 400) -> VerifierScore:
    """Word count within [min_words, max_words]; outside, the score falls with the ratio."""
    words = len(doc.split())
    value = 1.0 if min_words <= words <= max_words else (words / min_words if words < min_words else max_words / words)
    inside = value == 1.0
    explanation = f"{words} words" + ("" if inside else f", outside {min_words}..{max_words}")
    return VerifierScore("length", value, inside, explanation, {"words": words})


def verify(doc: str, target: PythonTarget, *, limits: SandboxLimits = EXAMPLE_LIMITS) -> list[VerifierScore]:
    """Every verifier on one document, in a fixed order."""
    return [check_parameters(doc, target), check_returns_raises(doc, target), check_code_blocks(doc),
            check_examples(doc, target, limits=limits), check_structure(doc, target), check_length(doc)]


def _python_code(doc: str) -> list[tuple[int, str, bool]]:
    """(line, code, is a >>> session) for every Python block, plus the >>> examples of the prose."""
    pieces = [(doc.count("\n", 0, b.start) + 2, b.code, ">>>" in b.code) for b in code_blocks(doc) if b.is_python]
    if ">>>" in prose(doc):
        pieces.append((1, prose(doc), True))
    return pieces


def _example_units(doc: str) -> list[dict[str, Any]]:
    units: list[tuple[int, dict[str, Any]]] = []
    text, blocks = prose(doc), code_blocks(doc)
    if ">>>" in text:
        first = next(m.start() for m in re.finditer(">>>", doc)
                     if not any(b.start <= m.start() < b.end for b in blocks))
        units.append((first, {"kind": "doctest", "text": text, "line": 1}))
    for i, block in enumerate(blocks):
        if not block.is_python:
            continue
        line = doc.count("\n", 0, block.start) + 2
        if ">>>" in block.code:
            units.append((block.start, {"kind": "doctest", "text": block.code, "line": line}))
            continue
        expected, following = None, blocks[i + 1] if i + 1 < len(blocks) else None
        if following and following.lang in OUTPUT_LANGS and ">>>" not in following.code:
            between = doc[block.end:following.start].strip()
            if len(between) <= 40 and (not between or between.endswith(":")):
                expected = following.code
        units.append((block.start, {"kind": "script", "code": block.code, "expected": expected, "line": line}))
    return [unit for _, unit in sorted(units, key=lambda pair: pair[0])]


def _count(unit: dict[str, Any]) -> int:
    if unit["kind"] != "doctest":
        return 1
    try:
        return max(1, len(doctest.DocTestParser().get_examples(unit["text"])))
    except ValueError:
        return 1


def _load_report(raw: str | None) -> dict[str, Any]:
    try:
        report = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return report if isinstance(report, dict) else {}
