"""The hostile corpus (tests/reliability/hostile_corpus.py) against the real sandbox: every snippet ends as its case
expects and leaves the host as it was."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from docflywheel.eval.sandbox import protections
from hostile_corpus import CORPUS, Hostile, run_case

KERNEL_LAYERS = {"net-namespace", "pid-namespace", "read-only-fs", "throwaway-uid"}


def test_the_corpus_covers_every_category_with_thirty_snippets_or_more() -> None:
    counts = Counter(case.category for case in CORPUS)
    assert len(CORPUS) >= 30 and len({case.name for case in CORPUS}) == len(CORPUS)
    assert set(counts) == {"resource", "network", "filesystem", "process", "environment", "import", "output"}
    assert min(counts.values()) >= 3


@pytest.mark.skipif(not KERNEL_LAYERS <= set(protections()), reason="the corpus expects every kernel layer")
@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_each_hostile_snippet_is_contained(case: Hostile) -> None:
    cwd, environ = os.getcwd(), dict(os.environ)
    outcome = run_case(case)
    assert outcome.contained, f"{case.name}: " + "; ".join(outcome.problems)
    assert os.getcwd() == cwd and dict(os.environ) == environ


def test_the_containment_check_catches_a_snippet_that_gets_out() -> None:
    # A case whose expectation is wrong on purpose: the check must report it, or it could never fail.
    lenient = Hostile("prints_the_secret_we_handed_it", "environment", "print('ok')", ("denied",), stdout="never")
    outcome = run_case(lenient)
    assert not outcome.contained
    assert any("status ok" in p for p in outcome.problems) and any("does not match" in p for p in outcome.problems)
