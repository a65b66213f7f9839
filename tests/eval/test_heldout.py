"""Held-out evaluation on real test tasks with the micro model and the recommended jury."""

from __future__ import annotations

from pathlib import Path

import pytest

from docflywheel.config import GenerationConfig
from docflywheel.errors import InputError
from docflywheel.eval.heldout import bootstrap_mean, evaluate
from docflywheel.models import load_backend
from docflywheel.store import Store
from docflywheel.tasks import extract_tasks


def test_a_model_is_scored_per_test_task_and_its_rows_are_reused(store: Store, micro_model: Path,
                                                                 tmp_path: Path) -> None:
    store.add_tasks(extract_tasks("logging") + extract_tasks("tarfile"))
    tasks = store.tasks(split="test", limit=6)
    settings = GenerationConfig(max_new_tokens=24, batch_size=6)
    backend = load_backend(f"hf:{micro_model}", settings, tmp_path)
    first = evaluate(store, backend, tasks, settings, samples=2, show_progress=False)
    # The length verifier applies to every document, so every sample is scored.
    assert first.generations == 12 and first.unscored == 0 and set(first.scores) == {t.id for t in tasks}
    assert all(1 <= s <= 5 for s in first.scores.values())
    assert "verifier/length" in first.members
    interval = first.interval()
    assert interval.ci_low <= first.mean <= interval.ci_high
    stored = store.counts()["generations"], store.counts()["judgments"]
    again = evaluate(store, backend, tasks, settings, samples=2, show_progress=False)
    assert again.scores == first.scores and (store.counts()["generations"], store.counts()["judgments"]) == stored
    assert {g.role for g in store.generations()} == {"evaluation"}


def test_only_test_tasks_may_be_evaluated(store: Store, micro_model: Path, tmp_path: Path) -> None:
    store.add_tasks(extract_tasks("logging"))
    settings = GenerationConfig(max_new_tokens=8)
    backend = load_backend(f"hf:{micro_model}", settings, tmp_path)
    with pytest.raises(InputError, match="test tasks only; .* is in the train split"):
        evaluate(store, backend, store.tasks(split="train", limit=2), settings, show_progress=False)
    with pytest.raises(InputError, match="no test tasks"):
        evaluate(store, backend, [], settings, show_progress=False)


def test_the_bootstrap_interval_covers_the_mean_and_narrows_with_more_tasks() -> None:
    few = bootstrap_mean([1.0, 2.0, 3.0, 4.0])
    many = bootstrap_mean([1.0, 2.0, 3.0, 4.0] * 25)
    assert few.ci_low < few.value == 2.5 < few.ci_high
    assert many.ci_high - many.ci_low < few.ci_high - few.ci_low
    with pytest.raises(InputError, match="at least 2 scored test tasks"):
        bootstrap_mean([3.0])
