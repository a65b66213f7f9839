"""Runs a document's examples against the real function; executed inside the sandbox as its snippet.

Reads units.json (the target and the examples, prepared by `verifiers.check_examples`), writes
results.json after every unit, so a run cut short by a limit still tells how far it got. Standard
library only.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import os
import traceback
from typing import Any

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


class _Recorder(doctest.DocTestRunner):
    def __init__(self, results: list[dict[str, Any]], first_line: int) -> None:
        super().__init__(optionflags=FLAGS, verbose=False)
        self.results, self.first_line = results, first_line

    def _record(self, example: doctest.Example, got: str, ok: bool, error: str | None = None) -> None:
        self.results.append({"line": self.first_line + example.lineno, "source": example.source,
                             "expected": example.want, "got": got, "ok": ok, "error": error})

    def report_start(self, out: Any, test: Any, example: Any) -> None:
        pass

    def report_success(self, out: Any, test: Any, example: doctest.Example, got: str) -> None:
        self._record(example, got, True)

    def report_failure(self, out: Any, test: Any, example: doctest.Example, got: str) -> None:
        self._record(example, got, False)

    def report_unexpected_exception(self, out: Any, test: Any, example: doctest.Example, exc_info: Any) -> None:
        error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
        self._record(example, "", False, error)


def _setup(target: dict[str, Any]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__doc_examples__"}
    if target.get("module"):
        module, first = target["module"], target["name"].split(".")[0]
        exec(f"import {module}\nimport {module.split('.')[0]}\nfrom {module} import {first}", namespace)
    else:
        exec(compile(target["source"], "target.py", "exec"), namespace)
    return namespace


def _run_script(unit: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    out = io.StringIO()
    error = None
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(unit["code"], f"<example at line {unit['line']}>", "exec"), namespace)
    except Exception as exc:  # noqa: BLE001 - a failing example is a result, not a crash
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    got, expected = out.getvalue(), unit.get("expected")
    ok = error is None and (expected is None or got.split() == expected.split())
    return {"line": unit["line"], "source": unit["code"], "expected": expected, "got": got, "ok": ok, "error": error}


def main() -> None:
    with open("units.json", encoding="utf-8") as fh:
        spec = json.load(fh)
    report: dict[str, Any] = {"setup_error": None, "results": [], "units_done": 0}
    results_path = os.path.abspath("results.json")

    def save() -> None:
        with open(results_path, "w", encoding="utf-8") as fh:
            json.dump(report, fh)

    try:
        namespace = _setup(spec["target"])
    except Exception as exc:  # noqa: BLE001
        report["setup_error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        save()
        return
    os.makedirs("play", exist_ok=True)
    os.chdir("play")  # examples that write files do it here, away from results.json
    for unit in spec["units"]:
        if unit["kind"] == "doctest":
            try:
                test = doctest.DocTestParser().get_doctest(unit["text"], namespace, "doc", None, 0)
            except ValueError as exc:  # inconsistent indentation and the like
                report["results"].append({"line": unit["line"], "source": unit["text"], "expected": None,
                                          "got": "", "ok": False, "error": str(exc)})
            else:
                _Recorder(report["results"], unit["line"]).run(test, out=lambda _: None, clear_globs=False)
                namespace.update(test.globs)
        else:
            report["results"].append(_run_script(unit, namespace))
        report["units_done"] += 1
        save()
    save()


if __name__ == "__main__":
    main()
