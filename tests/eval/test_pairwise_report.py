"""Pairwise agreement reports: hand-computable figures, and the Auto-J / HH-RLHF files through the real judges."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from docflywheel.errors import InputError
from docflywheel.eval.agreement import FIRST, SECOND, TIE, Bootstrap
from docflywheel.eval.benchmark import agreement_report
from docflywheel.eval.pairwise_report import Verdicts, load_pairs, pairwise_figures, verdicts_from_scores

FAST = Bootstrap(n_resamples=50)


def _verdicts(shown: list[int], swapped: list[int], symmetric: bool = False) -> Verdicts:
    return Verdicts(np.array(shown), np.array(swapped), {}, "", symmetric)


def test_figures_by_hand() -> None:
    labels = np.array([FIRST, SECOND, TIE, FIRST])
    # right, wrong, right, wrong; the swapped verdicts mapped back are 0, 0, 2, 0: item 3 flips with the order
    verdicts = _verdicts([FIRST, FIRST, TIE, SECOND], [SECOND, SECOND, TIE, SECOND])
    figures = pairwise_figures(verdicts, labels, np.array([10.0, -5.0, 0.0, 3.0]), FAST)
    assert figures["accuracy"]["value"] == pytest.approx(2 / 4)
    assert figures["accuracy_without_ties"]["value"] == pytest.approx(1 / 3)  # items 0, 1, 3
    assert figures["accuracy_without_ties"]["n"] == 3
    assert figures["position_consistency"]["value"] == pytest.approx(3 / 4)
    assert figures["judge_ties"] == 0.25 and figures["human_ties"] == 0.25 and figures["n"] == 4


def test_a_judge_that_copies_the_labels_is_right_and_consistent_everywhere() -> None:
    labels = np.array([FIRST, SECOND, TIE, SECOND, FIRST, TIE])
    swapped = np.where(labels == TIE, TIE, 1 - labels)
    lengths = np.array([100.0, -40.0, 3.0, -7.0, 12.0, 0.0])
    figures = pairwise_figures(_verdicts(labels.tolist(), swapped.tolist()), labels, lengths, FAST)
    assert figures["accuracy"]["value"] == 1.0 and figures["accuracy_without_ties"]["value"] == 1.0
    assert figures["position_consistency"]["value"] == 1.0
    assert figures["length_bias"]["value"] == pytest.approx(figures["human_length_bias"]["value"])


def test_scores_become_verdicts_with_a_tie_margin() -> None:
    assert verdicts_from_scores([4.0, 3.0, 3.1], [3.0, 4.0, 3.0], 0.25).tolist() == [FIRST, SECOND, TIE]


@pytest.fixture(scope="module")
def autoj_file(human_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 Auto-J pairs: every 20th of 1200, which spans 50 scenarios and all three labels."""
    lines = (human_data / "autoj_pairwise_human_test" / "testdata_pairwise.jsonl").read_text().splitlines()
    path = tmp_path_factory.mktemp("autoj") / "pairs.jsonl"
    path.write_text("\n".join(lines[:1200:20]) + "\n")
    return path


def test_autoj_report_with_the_default_judge(autoj_file: Path) -> None:
    report = agreement_report(autoj_file, "autoj", bootstrap=FAST)
    assert report["judge"] == "learned" and "5-fold StratifiedKFold" in report["fitted"]
    figures = report["pairwise"]["overall"]
    assert figures["n"] == report["n_items"] == 60 and not figures["symmetric_judge"]
    for name in ("accuracy", "accuracy_without_ties", "position_consistency", "length_bias"):
        estimate = figures[name]
        assert estimate["ci_low"] <= estimate["value"] <= estimate["ci_high"], name
    labels = load_pairs(autoj_file, "autoj").labels
    assert report["baselines"]["tie"]["accuracy"]["value"] == pytest.approx(np.mean(labels == TIE))
    json.dumps(report)  # one JSON object, NaN-free


def test_symmetric_judges_are_consistent_by_construction_and_limit_is_stated(autoj_file: Path) -> None:
    relevance = agreement_report(autoj_file, "autoj", "relevance", limit=30, bootstrap=FAST)
    assert relevance["n_items"] == 30 and relevance["limit"] == "first 30 pairs of the file"
    assert relevance["pairwise"]["overall"]["position_consistency"]["value"] == 1.0
    assert relevance["pairwise"]["overall"]["symmetric_judge"]
    longer = agreement_report(autoj_file, "autoj", "longer", bootstrap=FAST)["pairwise"]["overall"]
    # a three-valued verdict cannot rank-correlate 1.0 with a length difference, but it comes close
    assert longer["length_bias"]["value"] > max(0.8, longer["human_length_bias"]["value"])


def test_hh_rlhf_accuracy_is_the_share_preferring_chosen(human_data: Path, tmp_path: Path) -> None:
    source = human_data / "anthropic_hh_rlhf_test" / "helpful-base.test.jsonl.gz"
    with gzip.open(source, "rt", encoding="utf-8") as fh:
        rows = [json.loads(next(fh)) for _ in range(20)]
    path = tmp_path / "helpful-base.test.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    pairs = load_pairs(path, "hh-rlhf")
    assert {FIRST, SECOND} == set(pairs.labels.tolist())  # chosen shown first or second at random
    chosen = [r["chosen"][r["chosen"].rfind("\n\nAssistant:") + 12:].strip() for r in rows]
    assert [p[label] for p, label in zip(zip(pairs.firsts, pairs.seconds), pairs.labels)] == chosen
    report = agreement_report(path, "hh-rlhf", "longer", bootstrap=FAST)
    figures = report["pairwise"]["overall"]
    assert figures["accuracy"]["value"] == figures["accuracy_without_ties"]["value"]  # no tied labels
    prefers_chosen = np.mean([len(c) > len(r["rejected"][r["rejected"].rfind("\n\nAssistant:") + 12:].strip())
                              for c, r in zip(chosen, rows)])
    assert figures["accuracy"]["value"] == pytest.approx(prefers_chosen)


def test_unknown_pairwise_judge_is_a_one_line_error(autoj_file: Path) -> None:
    with pytest.raises(InputError, match="unknown judge 'reference' for autoj; use one of"):
        agreement_report(autoj_file, "autoj", "reference")
