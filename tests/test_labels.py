"""Human labels: import from CSV / JSONL into a real store (all or nothing, idempotent) and agreement with the jury."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from docflywheel.errors import InputError
from docflywheel.eval.agreement import Bootstrap
from docflywheel.eval.benchmark import agreement_report
from docflywheel.eval.scoring import jury_scores, reference_rows
from docflywheel.labels import import_labels
from docflywheel.records import Generation, Task
from docflywheel.store import Store

FAST = Bootstrap(n_resamples=50)
REFERENCE = "Return the sum of two numbers a and b."
DOCS = [REFERENCE,  # the reference itself: the jury's top score
        "Add a and b and return their sum.",
        "Compute the total of the two given numbers.",
        "Open a network socket and listen for connections on a port.",
        "The the the banana."]


@pytest.fixture
def labelled(store: Store) -> tuple[Store, list[str]]:
    """A task with five generations, each judged by the reference-similarity member of the jury."""
    task = Task(qualname="pkg.add", kind="function", code="def add(a, b):\n    return a + b", reference=REFERENCE)
    store.add_tasks([task])
    generations = [Generation(task_id=task.id, text=text, model="m", prompt_hash="p", sample_index=i)
                   for i, text in enumerate(DOCS)]
    store.add_generations(generations)
    store.insert("judgments", reference_rows({task.id: task}, generations))
    return store, [g.id for g in generations]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_import_round_trip_and_reimport_is_a_no_op(labelled: tuple[Store, list[str]], tmp_path: Path) -> None:
    store, ids = labelled
    path = tmp_path / "labels.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["generation_id", "generation_b_id", "criterion", "score", "verdict",
                                     "annotator", "comment"])
        writer.writeheader()
        writer.writerow({"generation_id": ids[0], "criterion": "overall", "score": "5", "annotator": "ann"})
        writer.writerow({"generation_id": ids[4], "criterion": "overall", "score": "1", "annotator": "ann",
                         "comment": "nonsense"})
        writer.writerow({"generation_id": ids[0], "generation_b_id": ids[3], "criterion": "overall",
                         "verdict": "A", "annotator": "bo"})
    result = import_labels(store, path)
    assert (result.read, result.new, result.pointwise, result.pairwise) == (3, 3, 2, 1)
    stored = {(r["generation_id"], r["generation_b_id"]): r for r in store.select("human_labels")}
    assert stored[(ids[4], None)]["score"] == 1.0 and stored[(ids[4], None)]["comment"] == "nonsense"
    assert stored[(ids[0], ids[3])]["verdict"] == "A" and stored[(ids[0], ids[3])]["score"] is None
    assert all(r["status"] == "labelled" for r in stored.values())
    assert import_labels(store, path).new == 0
    assert store.counts()["human_labels"] == 3


@pytest.mark.parametrize(("row", "message"), [
    ({"generation_id": "nope", "criterion": "overall", "score": 3, "annotator": "a"},
     "labels.jsonl:2: field 'generation_id' is 'nope', which is not a generation in"),
    ({"generation_id": "G0", "criterion": "overall", "score": 6, "annotator": "a"},
     "labels.jsonl:2: field 'score' is 6; a pointwise label needs a number from 1 to 5"),
    ({"generation_id": "G0", "generation_b_id": "G1", "criterion": "overall", "verdict": "first", "annotator": "a"},
     "labels.jsonl:2: field 'verdict' is 'first'; use a (the first is better), b (the second) or tie"),
    ({"generation_id": "G0", "criterion": "overall", "score": 3},
     "labels.jsonl:2: field 'annotator' is missing or empty"),
    ({"generation_id": "G0", "criterion": "overall", "scor": 3, "annotator": "a"},
     "labels.jsonl:2: unknown field(s) scor"),
])
def test_a_bad_row_is_one_line_naming_file_line_and_field_and_nothing_is_stored(
        labelled: tuple[Store, list[str]], tmp_path: Path, row: dict, message: str) -> None:
    store, ids = labelled
    row = {k: ids[int(v[1])] if isinstance(v, str) and v in ("G0", "G1") else v for k, v in row.items()}
    good = {"generation_id": ids[1], "criterion": "overall", "score": 4, "annotator": "a"}
    path = _jsonl(tmp_path / "labels.jsonl", [good, row])
    with pytest.raises(InputError) as error:
        import_labels(store, path)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert store.counts()["human_labels"] == 0


def test_agreement_of_the_jury_with_stored_labels(labelled: tuple[Store, list[str]], tmp_path: Path) -> None:
    store, ids = labelled
    jury = {gid: s.score for gid, s in jury_scores(store, ids).items()}
    assert jury[ids[0]] == 5.0 and jury[ids[4]] < jury[ids[1]]
    human = [5, 4, 4, 1, 1]  # people agree with the jury's order
    rows = [{"generation_id": g, "criterion": "overall", "score": s, "annotator": "ann"} for g, s in zip(ids, human)]
    # pairs: the reference beats nonsense (the jury agrees), and one pair people call a tie
    rows += [{"generation_id": ids[0], "generation_b_id": ids[4], "criterion": "overall", "verdict": "a",
              "annotator": "ann"},
             {"generation_id": ids[3], "generation_b_id": ids[0], "criterion": "overall", "verdict": "b",
              "annotator": "ann"},
             {"generation_id": ids[1], "generation_b_id": ids[2], "criterion": "overall", "verdict": "tie",
              "annotator": "ann"}]
    path = _jsonl(tmp_path / "labels.jsonl", rows)
    from_file = agreement_report(path, "labels", store=store, bootstrap=FAST)  # read, not stored
    assert store.counts()["human_labels"] == 0
    import_labels(store, path)
    report = agreement_report(store.path, "labels", bootstrap=FAST)
    assert report["judge"] == "jury" and report == {**from_file, "file": str(store.path)}
    point = report["criteria"]["overall"]
    assert point["labelled"] == 5 and point["unjudged"] == 0 and point["spearman"]["value"] > 0.8
    pairs = report["pairwise"]["overall"]
    assert pairs["n"] == 3 and pairs["symmetric_judge"]
    assert pairs["accuracy_without_ties"]["value"] == 1.0  # the two pairs with a winner
    assert pairs["position_consistency"]["value"] == 1.0
    constant = agreement_report(store.path, "labels", "constant", bootstrap=FAST)
    assert constant["pairwise"]["overall"]["accuracy"]["value"] == pytest.approx(1 / 3)  # only the tie


def test_cli_imports_labels_and_prints_pairwise_agreement(labelled: tuple[Store, list[str]], tmp_path: Path) -> None:
    store, ids = labelled
    path = _jsonl(tmp_path / "labels.jsonl", [
        {"generation_id": ids[0], "generation_b_id": ids[4], "criterion": "overall", "verdict": "a", "annotator": "x"},
        {"generation_id": ids[3], "generation_b_id": ids[1], "criterion": "overall", "verdict": "b", "annotator": "x"}])

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "docflywheel.cli", "--db", str(store.path), *args],
                              capture_output=True, text=True, timeout=120)

    first = cli("labels", "import", str(path))
    assert first.returncode == 0, first.stderr
    assert "2 labels read (0 pointwise, 2 pairwise), 2 new" in first.stdout
    assert "0 new, 2 already stored" in cli("labels", "import", str(path)).stdout
    shown = cli("agreement", str(store.path), "--format", "labels", "--json")
    figures = json.loads(shown.stdout)["pairwise"]["overall"]
    assert figures["accuracy"]["value"] == 1.0 and figures["n"] == 2
    table = cli("agreement", str(store.path), "--format", "labels")
    assert "position" in table.stdout and "jury judge vs people's verdicts" in table.stdout
    bad = cli("labels", "import", str(_jsonl(tmp_path / "bad.jsonl", [{"generation_id": "x"}])))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "bad.jsonl:1: field 'criterion'" in bad.stderr
