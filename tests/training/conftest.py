"""Small stored data sets in the curation contract, and settings that train the micro model in seconds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from docflywheel.agents.prompts import document_prompt, prompt_hash
from docflywheel.agents.route import decide
from docflywheel.config import RouteConfig
from docflywheel.eval.judges import verifier_judge
from docflywheel.eval.scoring import jury_scores, reference_rows
from docflywheel.records import Generation, Task, content_id
from docflywheel.store import Store
from docflywheel.training.config import DistillSettings, DPOSettings, SFTSettings

FUNCTIONS = [("add", "a, b", "return a + b", "Return the sum of a and b."),
             ("mean", "xs", "return sum(xs) / len(xs)", "Return the arithmetic mean of xs."),
             ("first", "items", "return items[0]", "Return the first item."),
             ("clamp", "x, lo, hi", "return max(lo, min(x, hi))", "Limit x to the range lo..hi."),
             ("read", "path", "return open(path).read()", "Return the text of the file at path."),
             ("square", "x", "return x * x", "Return x squared."),
             ("join", "parts", "return ', '.join(parts)", "Join the parts with commas."),
             ("last", "items", "return items[-1]", "Return the last item.")]


def prompt(i: int) -> str:
    name, args, body, _ = FUNCTIONS[i % len(FUNCTIONS)]
    return f"Document this code:\ndef {name}_{i}({args}):\n    {body}"


def sft_rows(count: int = 16) -> list[dict[str, Any]]:
    return [{"messages": [{"role": "user", "content": prompt(i)},
                          {"role": "assistant", "content": FUNCTIONS[i % len(FUNCTIONS)][3]}]} for i in range(count)]


def dpo_rows(count: int = 16) -> list[dict[str, Any]]:
    return [{"prompt": [{"role": "user", "content": prompt(i)}],
             "chosen": [{"role": "assistant", "content": FUNCTIONS[i % len(FUNCTIONS)][3]}],
             "rejected": [{"role": "assistant", "content": "stuff stuff stuff"}]} for i in range(count)]


def add_dataset(store: Store, kind: str, rows: list[dict[str, Any]]) -> str:
    """Store `rows` as a data set the way curation does; returns its id."""
    dataset_id = content_id("dataset", kind, rows)
    store.insert("datasets", [{"id": dataset_id, "name": f"test-{kind}", "kind": kind, "version": 1, "filter": {},
                               "row_count": len(rows), "content_hash": dataset_id}])
    store.insert("dataset_rows", [{"id": content_id(dataset_id, position), "dataset_id": dataset_id,
                                   "position": position, "task_id": None, "data": row}
                                  for position, row in enumerate(rows)])
    return dataset_id


FAST = {"max_steps": 4, "batch_size": 4, "max_length": 96, "save_steps": 2}


@pytest.fixture
def sft_settings() -> SFTSettings:
    return SFTSettings(**FAST)


@pytest.fixture
def dpo_settings() -> DPOSettings:
    return DPOSettings(**FAST)


@pytest.fixture
def distill_settings() -> DistillSettings:
    return DistillSettings(**FAST)


class TrainingData:
    """The helpers above for the training tests, as one fixture (test modules cannot import a conftest)."""

    prompt = staticmethod(prompt)
    sft_rows = staticmethod(sft_rows)
    dpo_rows = staticmethod(dpo_rows)
    add = staticmethod(add_dataset)


@pytest.fixture
def data() -> TrainingData:
    return TrainingData()


# -- judged generations, for the curation and export tests ----------------------------------------------------------
# Real tasks and generations, judged by the real offline jury (verifiers + reference similarity) and routed by
# the real router, so every score is one the loop would give.

POINT_REFERENCE = ("Scale a point away from the origin.\n\nArgs:\n    x: horizontal coordinate.\n    y: vertical "
                   "coordinate.\n    factor: how much to stretch both coordinates.\n\nReturns:\n    The scaled point "
                   "as a tuple (x, y).")


@dataclass
class Doc:
    """One generation to write: its task and text, plus how the router should see it."""

    task: Task
    text: str
    role: str = "student"
    parent: Generation | None = None
    sample: int | None = None  # None: the next free sample index of the task (generation ids do not hash the text)
    iteration: int | None = None
    # The thresholds these fixtures were written against (stricter than the config defaults, tuned for tiny).
    thresholds: RouteConfig = field(default_factory=lambda: RouteConfig(accept=3.4, reject=2.2, max_spread=1.5))


class Kit:
    """What the curation and export tests build from, as one fixture (test modules cannot import a conftest).

    Jury scores of the texts with POINT_REFERENCE as the human docstring: GOOD about 4.7, OK 4.1, FAIR 3.2, BAD 1.7.
    """

    GOOD = ("Scale a point away from the origin by a factor.\n\nArgs:\n    x: horizontal coordinate of the point.\n"
            "    y: vertical coordinate of the point.\n    factor: how much to stretch both coordinates.\n\nReturns:\n"
            "    The scaled point as a tuple (x, y).")
    OK = ("Multiply a point by a number.\n\nArgs:\n    x: the x value.\n    y: the y value.\n    factor: the "
          "multiplier for the coordinates of the point.\n\nReturns:\n    A tuple.")
    FAIR = ("Scale a point.\n\nArgs:\n    x: a number to scale.\n    y: another number to scale.\n\nThe function "
            "gives back both numbers multiplied.")
    BAD = ("This helper opens a network socket and downloads the weather forecast for today, printing it to the "
           "screen in many colours.")
    Doc = Doc

    @staticmethod
    def task(name: str, split: str = "train", *, reference: bool = True, body: str | None = None) -> Task:
        """A function task `geometry.<name>(x, y, factor)`; without a reference only the verifiers judge it."""
        code = f"def {name}(x, y, factor):\n" + (body or "    return x * factor, y * factor\n")
        return Task(qualname=f"geometry.{name}", kind="function", code=code, split=split,  # type: ignore[arg-type]
                    reference=POINT_REFERENCE if reference else None)

    @staticmethod
    def write(store: Store, docs: Sequence[Doc]) -> list[Generation]:
        """Store the tasks and generations, the verifier and reference judgments, and the router's decisions."""
        store.add_tasks(list({d.task.id: d.task for d in docs}.values()))
        taken = {d.task.id: len(store.generations(task_ids=[d.task.id or ""])) for d in docs}
        gens = []
        for d in docs:
            sample = d.sample if d.sample is not None else taken[d.task.id]
            taken[d.task.id] = max(taken[d.task.id], sample + 1)
            gens.append(Generation(task_id=d.task.id or "", text=d.text, model="micro", role=d.role,  # type: ignore[arg-type]
                                   prompt_hash=prompt_hash(document_prompt(d.task)), sample_index=sample,
                                   parent_id=d.parent.id if d.parent else None, iteration=d.iteration))
        store.add_generations(gens)
        rows: list[dict[str, Any]] = reference_rows({d.task.id or "": d.task for d in docs}, gens)
        for doc, gen in zip(docs, gens, strict=True):
            rows += verifier_judge.judge(doc.task, gen)
        store.insert("judgments", rows)
        scores = jury_scores(store, [g.id or "" for g in gens])
        store.insert("routes", [decide(g.id or "", scores.get(g.id or ""), d.thresholds, d.iteration)
                                for d, g in zip(docs, gens, strict=True)])
        return gens


@pytest.fixture
def kit() -> Kit:
    return Kit()
