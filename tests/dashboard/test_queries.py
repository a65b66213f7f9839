"""The store's dashboard reads on a real store: what the pages are built from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docflywheel.store import Store

if TYPE_CHECKING:
    from tests.dashboard.conftest import Flywheel


def test_review_items_put_review_first_and_filter(flywheel: Flywheel) -> None:
    store = flywheel.store
    rows, total = store.review_items(limit=50)
    assert total == 10 and [r["generation_id"] for r in rows[:3]] == flywheel.review
    assert all(r["marked"] for r in rows[:3]) and not any(r["marked"] for r in rows[3:])
    assert rows[0]["decision"] == "review" and rows[0]["reason"] == "judges disagree"
    assert {r["generation_id"]: r["decision"] for r in rows}[flywheel.accepted] == "accepted"

    only, total = store.review_items(review_only=True)
    assert [r["generation_id"] for r in only] == flywheel.review and total == 3
    assert store.review_items(kinds=["class"])[1] == 2
    assert store.review_items(models=["small"])[0][0]["generation_id"] == flywheel.accepted
    assert store.review_items(iterations=[1])[1] == 1
    disputed, total = store.review_items(min_spread=0.25)
    assert [r["generation_id"] for r in disputed] == flywheel.review[:2] and total == 2
    page, total = store.review_items(limit=2, offset=2)
    assert len(page) == 2 and total == 10 and page[0]["generation_id"] == flywheel.review[2]


def test_a_label_or_skip_takes_an_item_out_of_the_unlabelled_queue(flywheel: Flywheel) -> None:
    store = flywheel.store
    first, second = flywheel.review[:2]
    store.insert("human_labels", [{"id": "l1", "generation_id": first, "criterion": "fluency", "score": 4.0,
                                   "annotator": "ada", "status": "labelled"}])
    store.insert("human_labels", [{"id": "l2", "generation_id": second, "criterion": "all", "annotator": "ada",
                                   "status": "skipped"}])
    rows, total = store.review_items()
    assert total == 8 and first not in [r["generation_id"] for r in rows]
    everything, total = store.review_items(unlabelled_only=False)
    assert total == 10 and [r["labelled"] for r in everything[:3]] == [True, True, False]


def test_review_item_brings_judgments_evidence_and_the_revision_chain(flywheel: Flywheel) -> None:
    item = flywheel.store.review_item(flywheel.review[0])
    assert item is not None
    assert item["task"]["qualname"] == "pkg.mod.add0" and item["generation"]["role"] == "revision"
    verifier = next(j for j in item["judgments"] if j["judge_kind"] == "verifier")
    assert verifier["evidence"]["failures"][0]["got"] == "2"  # JSON comes back parsed
    assert {j["criterion"] for j in item["judgments"]} == {"examples", "content_adequacy", "fluency"}
    assert [(step["depth"], step["role"]) for step in item["chain"]] == [(-1, "student"), (0, "revision")]
    assert item["chain"][1]["principle_id"] == "examples"
    assert item["chain"][0]["id"] == flywheel.original
    assert {s["id"] for s in item["siblings"]} >= {flywheel.original}
    assert flywheel.store.review_item("no-such-id") is None


def test_review_item_of_an_original_lists_its_critiques_and_its_pairs(flywheel: Flywheel) -> None:
    original = flywheel.store.review_item(flywheel.original)
    assert original is not None and original["critiques"][0]["principle_id"] == "examples"
    assert [step["role"] for step in original["chain"]] == ["student", "revision"]
    paired = flywheel.store.review_item(flywheel.review[1])
    assert paired is not None
    assert [j["order_shown"] for j in paired["judgments"] if j["judge_kind"] == "pairwise"] == ["ab", "ba", None]


def test_agreement_data_joins_judges_to_the_median_of_people(flywheel: Flywheel) -> None:
    store = flywheel.store
    item = flywheel.review[0]
    rows = [{"id": f"l{n}", "generation_id": item, "generation_b_id": None, "criterion": "content_adequacy",
             "score": score, "verdict": None, "annotator": who, "status": "labelled"}
            for n, (who, score) in enumerate([("ada", 2.0), ("grace", 5.0), ("alan", 4.0)])]
    store.insert("human_labels", rows)
    data = store.agreement_data()
    pointwise = [r for r in data["pointwise"] if r["generation_id"] == item]
    assert [(r["judge_kind"], r["judge_model"], r["criterion"]) for r in pointwise] == [
        ("rubric", "tiny", "content_adequacy")]
    assert pointwise[0]["human"] == 4.0 and pointwise[0]["raters"] == 3 and pointwise[0]["score"] == 1.0
    assert pointwise[0]["length"] == len("Add two numbers.\n\n>>> add(1)\n3")
    assert data["position_total"] == 1 and data["position"][0]["ab"] == "A" and data["position"][0]["ba"] == "A"
    assert data["pairs"] == [] and data["judged_pairs"] == []


def test_pair_labels_meet_the_pairwise_verdict_in_either_order(flywheel: Flywheel) -> None:
    store = flywheel.store
    pair = next(r for r in store.agreement_data()["position"])
    # the person saw the pair the other way round from the judge: the judge's verdict is flipped to match
    store.insert("human_labels", [{"id": "p1", "generation_id": pair["generation_b_id"],
                                   "generation_b_id": pair["generation_id"], "criterion": "content_adequacy",
                                   "verdict": "B", "annotator": "ada", "status": "labelled"}])
    data = store.agreement_data()
    assert [r["human"] for r in data["pairs"]] == ["B"]
    assert [(r["judge_kind"], r["verdict"], r["human"]) for r in data["judged_pairs"]] == [("pairwise", "tie", "B")]


def test_flywheel_overview_and_dataset_rows(flywheel: Flywheel) -> None:
    data = flywheel.store.flywheel_overview()
    assert [it["iteration"] for it in data["iterations"]] == [0, 1]
    assert data["iterations"][1]["metrics"]["promoted"] is True
    assert data["training_runs"][0]["metrics"]["curve"][9]["loss"] == 2.1
    assert data["models"][0]["role"] == "champion" and data["datasets"][0]["filter"] == {"min_score": 0.7}
    assert {v["iteration"]: v["generations"] for v in data["volume"]} == {0: 9, 1: 1}
    rows = flywheel.store.dataset_rows(flywheel.dataset, limit=2)
    assert [r["position"] for r in rows] == [0, 1] and rows[1]["data"]["messages"][1]["content"] == "Adds two numbers (1)."


def test_an_empty_store_gives_empty_answers(store: Store) -> None:
    assert store.review_items() == ([], 0)
    assert store.agreement_data() == {"pointwise": [], "pairs": [], "judged_pairs": [], "position": [],
                                      "position_total": 0}
    assert store.review_options() == {"kinds": [], "models": [], "iterations": []}
    assert store.flywheel_overview()["volume"] == []
