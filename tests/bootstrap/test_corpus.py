"""The bootstrap corpus: real code without its docstring in the prompt, the docstring as the answer."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from docflywheel.agents.prompts import document_prompt
from docflywheel.bootstrap.corpus import build_corpus, installed_packages, is_sentence, package_examples
from docflywheel.errors import InputError
from docflywheel.tasks import extract_tasks


def _documented_object(qualname: str) -> object:
    parts = qualname.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise LookupError(qualname)


def test_examples_pair_code_without_docstring_with_the_cleaned_docstring() -> None:
    examples = package_examples("json", limit=400)
    tasks = {t.qualname: t for t in extract_tasks("json")}
    assert len(examples) > 10
    for example in examples:
        docstring = inspect.cleandoc(_documented_object(example.qualname).__doc__ or "")
        assert example.response == docstring
        assert example.prompt == document_prompt(tasks[example.qualname])
        first_line = docstring.splitlines()[0]
        assert first_line not in example.prompt, f"{example.qualname}: docstring leaked into the prompt"
        assert example.prompt.startswith("Write the documentation")


def test_known_function_is_there() -> None:
    example = next(e for e in package_examples("json", limit=400) if e.qualname == "json.dumps")
    assert "def dumps(" in example.prompt
    assert example.response.startswith("Serialize ``obj`` to a JSON formatted ``str``.")
    assert example.messages()[1] == {"role": "assistant", "content": example.response}


def test_corpus_is_deterministic_capped_and_keeps_test_tasks_out() -> None:
    packages = ["json", "textwrap", "argparse", "difflib", "fractions"]
    first = build_corpus(60_000, seed=3, packages=packages, val_size=5)
    again = build_corpus(60_000, seed=3, packages=packages, val_size=5)
    other = build_corpus(60_000, seed=4, packages=packages, val_size=5)
    assert first == again
    assert first.fingerprint != other.fingerprint
    assert 0 < len(first.val) <= 5
    assert {e.split for e in first.train} == {"train"}
    assert {e.split for e in first.val} == {"dev"}
    biggest = max(len(e.prompt) + len(e.response) for e in first.train + first.val)
    assert first.chars < 60_000 + biggest
    assert not {e.qualname for e in first.train} & {e.qualname for e in first.val}


def test_tests_and_unparsable_files_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "bootdemo"
    (root / "tests").mkdir(parents=True)
    doc = 'def {name}(x):\n    """Return x unchanged, as documented."""\n    return x\n'
    (root / "__init__.py").write_text("")
    (root / "core.py").write_text(doc.format(name="kept"))
    (root / "broken.py").write_text("def oops(:\n    pass\n")
    (root / "test_core.py").write_text(doc.format(name="test_helper"))
    (root / "tests" / "test_more.py").write_text(doc.format(name="in_tests"))
    (root / "notes.py").write_text('def todo(x):\n    """TODO"""\n    return x\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    examples = package_examples("bootdemo", limit=100)
    assert [e.qualname for e in examples] == ["bootdemo.core.kept"]
    assert "Return x unchanged" not in examples[0].prompt
    assert "return x" in examples[0].prompt


def test_installed_packages_has_stdlib_and_site_packages() -> None:
    names = installed_packages()
    assert {"json", "argparse", "transformers"} <= set(names)
    assert "test" not in names and not any(n.startswith("_") for n in names)
    assert names == sorted(names)


@pytest.mark.parametrize(("text", "ok"), [
    ("Return the sum of a and b.", True),
    ("Serialize obj to a JSON formatted str.\n\nMore here", True),
    ("TODO", False),
    ("x.", False),
    ("Deprecated alias", False),
])
def test_is_sentence(text: str, ok: bool) -> None:
    assert is_sentence(text) is ok


def test_too_small_a_cap_is_an_input_error() -> None:
    with pytest.raises(InputError, match="corpus_chars"):
        build_corpus(0)
    with pytest.raises(InputError, match="too few"):
        build_corpus(500, packages=["json"])

