"""Instruction examples for bootstrapping: "document this code" -> its docstring, from local Python sources.

The code-to-task step is `docflywheel.tasks.extract_tasks`, the same one the flywheel's own tasks come from,
so the bootstrap model sees exactly the prompts it will be asked later, and the tasks' fixed split keeps
test tasks out of its training data.
"""

from __future__ import annotations

import hashlib
import pkgutil
import random
import re
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from docflywheel.agents.prompts import document_prompt
from docflywheel.errors import InputError
from docflywheel.records import Split, Task
from docflywheel.tasks import extract_tasks

# distutils: merely finding its spec lets setuptools swap in its own copy, process-wide.
_SKIP_PACKAGES = {"test", "tests", "testing", "docflywheel", "distutils"}
_TEST_PART = re.compile(r"^(tests?|testing|.*_tests?|tests?_.*|idle_test|conftest)$")
_SENTENCE_END = re.compile(r"[.!?](\s|$)")


@dataclass(frozen=True)
class Example:
    """One chat-formatted instruction pair; `qualname` says where the code came from."""

    qualname: str
    prompt: str
    response: str
    split: Split

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.prompt}, {"role": "assistant", "content": self.response}]


@dataclass(frozen=True)
class Corpus:
    """Training and validation examples, and a fingerprint of their content."""

    train: list[Example]
    val: list[Example]
    packages: list[str]
    fingerprint: str

    @property
    def chars(self) -> int:
        return sum(len(e.prompt) + len(e.response) for e in [*self.train, *self.val])

    def texts(self) -> Iterable[str]:
        """Every prompt and response, for tokenizer training."""
        for example in [*self.train, *self.val]:
            yield example.prompt
            yield example.response


def installed_packages(roots: Sequence[Path] | None = None) -> list[str]:
    """Sorted names of the public top-level modules and packages in the stdlib and site-packages."""
    if roots is None:
        paths = sysconfig.get_paths()
        roots = [Path(paths["stdlib"]), Path(paths["purelib"])]
    names = {module.name for module in pkgutil.iter_modules([str(r) for r in roots])}
    return sorted(n for n in names if not n.startswith("_") and n not in _SKIP_PACKAGES and n.isidentifier())


def is_sentence(text: str) -> bool:
    """Whether the first paragraph of `text` reads as at least one sentence of prose."""
    first = " ".join(text.split("\n\n", 1)[0].split())
    return len(first.split()) >= 3 and bool(re.search(r"[A-Za-z]{2}", first)) and bool(_SENTENCE_END.search(first))


def _is_test(qualname: str) -> bool:
    return any(_TEST_PART.match(part) for part in qualname.split("."))


def package_examples(package: str, limit: int) -> list[Example]:
    """Examples from one package's documented functions, classes and modules (at most `limit` tasks read).

    A package whose source cannot be read as tasks yields nothing rather than stopping the corpus.
    """
    try:
        tasks = extract_tasks(package, limit=limit)
    except (InputError, ValidationError, OSError, RecursionError):
        return []
    return [_example(task) for task in tasks if task.reference and is_sentence(task.reference)
            and not _is_test(task.qualname)]


def _example(task: Task) -> Example:
    response = task.reference or ""
    return Example(task.qualname, document_prompt(task), response.strip(), task.split or "train")


def build_corpus(max_chars: int, seed: int = 0, *, val_size: int = 200, per_package: int = 400,
                 packages: Sequence[str] | None = None) -> Corpus:
    """Gather examples until `max_chars` characters, from packages in a seeded order.

    Examples of tasks in the flywheel's "train" split train; a sample of its "dev" split validates;
    its "test" split is never used. `per_package` caps the tasks read from one package, so that no big
    library (torch, pandas) crowds out the rest.
    """
    if max_chars <= 0:
        raise InputError(f"corpus_chars must be positive, got {max_chars}")
    order = list(packages) if packages is not None else installed_packages()
    random.Random(seed).shuffle(order)
    seen: set[str] = set()
    train: list[Example] = []
    dev: list[Example] = []
    used: list[str] = []
    chars = 0
    for package in order:
        if chars >= max_chars:
            break
        examples = package_examples(package, per_package)
        if examples:
            used.append(package)
        for example in examples:
            key = hashlib.sha256(f"{example.prompt}\0{example.response}".encode()).hexdigest()
            if key in seen or example.split == "test":
                continue
            seen.add(key)
            (train if example.split == "train" else dev).append(example)
            chars += len(example.prompt) + len(example.response)
            if chars >= max_chars:
                break
    if not train or not dev:
        raise InputError(f"found too few documented functions to train on ({len(train)} train, {len(dev)} "
                         f"validation examples within {max_chars:,} characters): raise corpus_chars")
    rng = random.Random(seed)
    rng.shuffle(train)
    rng.shuffle(dev)
    val = dev[:val_size]
    digest = hashlib.sha256()
    for example in [*train, *val]:
        digest.update(f"{example.qualname}\0{example.prompt}\0{example.response}\0".encode())
    return Corpus(train=train, val=val, packages=sorted(used), fingerprint=digest.hexdigest()[:16])
