"""The review queue page in AppTest against a real store: what it shows and the labels it writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from streamlit.testing.v1 import AppTest

from docflywheel.dashboard.review import PAGE_SIZE, label_rows
from docflywheel.errors import InputError
from docflywheel.records import Generation

if TYPE_CHECKING:
    from tests.dashboard.conftest import Flywheel, Pages


def _button(app: AppTest, label: str) -> object:
    return next(b for b in app.button if b.label == label)


def _text(app: AppTest) -> str:
    return "\n".join([m.value for m in app.markdown] + [c.value for c in app.code] + [c.value for c in app.caption])


def test_the_first_item_marked_for_review_is_shown_with_everything_about_it(flywheel: Flywheel, pages: Pages) -> None:
    app = pages.open(flywheel.store, "review", annotator="ada")
    assert not app.exception
    assert app.subheader[0].value == "pkg.mod.add0"
    text = _text(app)
    assert "def add(a, b=1):" in text  # the task's code
    assert "Add two numbers.\n\n```pycon\n>>> add(1)\n3\n```" in text  # the documentation as Markdown
    assert "Add **a** and *b* (task 0)." in text  # next to the human reference
    assert "add(1)" in text and any(c.value == "2" for c in app.code)  # the failing example and what it gave
    assert "critique against principle **examples**: Show a call and its output." in text
    judges = app.dataframe[0].value
    assert set(judges["judge"]) == {"verifier/-", "rubric/tiny"}
    assert "rationale fluency 0" in set(judges["rationale"])
    assert "10 items match; 10 listed here, 3 of them marked for review" in text


def test_saving_scores_writes_labels_with_annotator_and_time_and_shows_the_next_item(flywheel: Flywheel,
                                                                                    pages: Pages) -> None:
    store, item = flywheel.store, flywheel.review[0]
    app = pages.open(store, "review", annotator="ada")
    app.radio(key=f"score_{item}_content_adequacy").set_value(4)
    app.radio(key=f"score_{item}_fluency").set_value(2)
    app.text_area(key=f"comment_{item}").input("the example is wrong")
    _button(app, "Save and next").click().run()
    assert not app.exception
    labels = store.labels_for([item])[item]
    assert sorted((l["criterion"], l["score"], l["annotator"], l["comment"], l["status"]) for l in labels) == [
        ("content_adequacy", 4.0, "ada", "the example is wrong", "labelled"),
        ("fluency", 2.0, "ada", "the example is wrong", "labelled")]
    assert all(l["created_at"] is not None for l in labels)
    assert app.subheader[0].value == "pkg.mod.add1"  # the next item marked for review
    assert app.success[0].value.startswith("Saved 2 label(s)")


def test_skip_records_a_skip_and_moves_on(flywheel: Flywheel, pages: Pages) -> None:
    store, item = flywheel.store, flywheel.review[0]
    app = pages.open(store, "review", annotator="grace")
    _button(app, "Skip").click().run()
    assert [(l["status"], l["annotator"]) for l in store.labels_for([item])[item]] == [("skipped", "grace")]
    assert app.subheader[0].value == "pkg.mod.add1"
    assert item not in {row["generation_id"] for row in store.review_queue()}


def test_no_label_is_saved_without_an_annotator_or_without_a_score(flywheel: Flywheel, pages: Pages) -> None:
    store, item = flywheel.store, flywheel.review[0]
    app = pages.open(store, "review")
    app.radio(key=f"score_{item}_fluency").set_value(5)
    _button(app, "Save and next").click().run()
    assert "enter your name in the sidebar" in app.error[0].value
    app = pages.open(store, "review", annotator="ada")
    _button(app, "Save and next").click().run()
    assert "pick a score for at least one criterion" in app.error[0].value
    assert store.labels_for([item]) == {}
    assert app.subheader[0].value == "pkg.mod.add0"


def test_picking_the_better_of_a_pair_writes_a_verdict(flywheel: Flywheel, pages: Pages) -> None:
    store, item = flywheel.store, flywheel.review[1]
    app = pages.open(store, "review", annotator="ada")
    app.selectbox(key="review_pick_0").set_value(1).run()
    assert app.subheader[0].value == "pkg.mod.add1"
    app.radio(key="review_mode").set_value("Pick the better of a pair").run()
    partner = store.review_item(item)["judgments"][0]["generation_b_id"]  # type: ignore[index]
    assert partner.startswith(app.selectbox(key=f"pair_{item}").format_func(0).split("· ")[-1])
    app.radio(key=f"pair_verdict_{item}").set_value("B is better")
    _button(app, "Save and next").click().run()
    [label] = store.labels_for([item])[item]
    assert (label["generation_b_id"], label["verdict"], label["criterion"]) == (partner, "B", "content_adequacy")


def test_filters_narrow_the_queue(flywheel: Flywheel, pages: Pages) -> None:
    app = pages.open(flywheel.store, "review", annotator="ada")
    assert len(app.selectbox(key="review_pick_0").options) == 10
    app.toggle(key="f_review_only").set_value(True).run()
    assert len(app.selectbox(key="review_pick_0").options) == 3
    app.multiselect(key="f_kinds").set_value(["class"]).run()
    assert "Nothing to review with these filters" in app.info[0].value


def test_label_rows_refuse_an_empty_act() -> None:
    with pytest.raises(InputError, match="enter your name"):
        label_rows("g", "  ", scores={"fluency": 3})
    with pytest.raises(InputError, match="pick which of the pair"):
        label_rows("g", "ada", pair="h", criterion="fluency")
    [comment] = label_rows("g", "ada", comment="unclear task")
    assert (comment["criterion"], comment["score"], comment["status"]) == ("comment", None, "labelled")
    first, again = label_rows("g", "ada", scores={"fluency": 3}), label_rows("g", "ada", scores={"fluency": 3})
    assert first[0]["id"] != again[0]["id"]  # labelling again adds a row, never lost as a duplicate id


def test_a_long_queue_pages(flywheel: Flywheel, pages: Pages) -> None:
    store = flywheel.store
    task = store.tasks(limit=1)[0]
    store.add_generations([Generation(task_id=task.id, text=f"sample {n}", model="tiny", prompt_hash="p",
                                      sample_index=10 + n) for n in range(PAGE_SIZE)])
    app = pages.open(store, "review", annotator="ada")
    assert "35 items match; 25 listed here" in _text(app)
    app.number_input(key="review_page").set_value(2).run()
    assert "35 items match; 10 listed here, 0 of them marked" in _text(app)
    app.toggle(key="f_review_only").set_value(True).run()  # now one page: back to the first
    assert "3 items match; 3 listed here" in _text(app) and not app.exception
