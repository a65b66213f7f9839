"""agreement_report on real human files (subsets, so the suite stays fast)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from docflywheel.errors import InputError
from docflywheel.eval.agreement import Bootstrap
from docflywheel.eval.benchmark import agreement_report
from docflywheel.eval.human_data_extra import load_haque, load_shi

FAST = Bootstrap(n_resamples=50)


@pytest.fixture(scope="module")
def crupi_subset(human_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 12 functions of the Python set, written as a Java-named file: the format is language-blind."""
    source = human_data / "crupi2025_code_summarization_python" / "CS-benchmark-Python.csv"
    with source.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    keep = list(dict.fromkeys(r["target_id"] for r in rows))[:12]
    path = tmp_path_factory.mktemp("crupi") / "CS-benchmark-Java.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if r["target_id"] in keep)
    return path


def test_default_crupi_judge_is_cross_validated_and_reports_every_criterion(crupi_subset: Path) -> None:
    report = agreement_report(crupi_subset, "crupi2025", "default", bootstrap=FAST)
    assert report["judge"] == "learned" and "5-fold GroupKFold" in report["fitted"]
    assert set(report["criteria"]) == {"content_adequacy", "conciseness", "fluency"}
    alpha = report["criteria"]["content_adequacy"]["alpha"]
    assert alpha["n"] == report["n_items"] and alpha["ci_low"] <= alpha["value"] <= alpha["ci_high"]


def test_constant_judge_alpha_is_at_most_zero(crupi_subset: Path) -> None:
    report = agreement_report(crupi_subset, "crupi2025", "constant", bootstrap=FAST)
    for figures in report["criteria"].values():
        assert figures["alpha"]["value"] <= 0


def test_reference_judge_skips_the_human_written_rows(crupi_subset: Path) -> None:
    report = agreement_report(crupi_subset, "crupi2025", "reference", bootstrap=FAST)
    assert report["criteria"]["content_adequacy"]["alpha"]["n"] < report["n_items"]


def test_shi_and_haque_load_and_the_reference_judge_agrees(human_data: Path) -> None:
    assert len(load_shi(human_data / "shi2022_codesum_evaluation_bleu_human")) == 300
    haque = load_haque(human_data / "haque2022_semantic_similarity_metrics")
    assert len(haque) == 210 and all(len(i.ratings) == 6 for i in haque)
    report = agreement_report(human_data / "shi2022_codesum_evaluation_bleu_human", "shi2022", bootstrap=FAST)
    assert report["criteria"]["similarity"]["spearman"]["value"] > 0.5


def test_unknown_format_judge_and_learned_without_code_are_one_line_errors(human_data: Path) -> None:
    with pytest.raises(InputError, match="unknown format"):
        agreement_report("x.csv", "nope")
    with pytest.raises(InputError, match="unknown judge"):
        agreement_report("x.csv", "crupi2025", "oracle")
    with pytest.raises(InputError, match="needs code"):
        agreement_report(human_data / "shi2022_codesum_evaluation_bleu_human", "shi2022", "learned")
