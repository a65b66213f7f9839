"""The flywheel page in AppTest against a real store, and how it reads the tables others write."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docflywheel.dashboard.flywheel import champion_frame, loss_frame, size_frame
from docflywheel.store import Store

if TYPE_CHECKING:
    from tests.dashboard.conftest import Flywheel, Pages


def test_the_page_charts_champions_sizes_losses_and_models(flywheel: Flywheel, pages: Pages) -> None:
    app = pages.open(flywheel.store, "flywheel")
    assert not app.exception
    assert [m.value for m in app.metric] == ["2", "3.500", "1", "1"]
    drawn = pages.charts(app)
    champions = drawn["Champion score per iteration"]
    assert champions[["iteration", "champion", "ci_low", "ci_high", "promoted"]].values.tolist() == [
        [0, 2.5, 2.0, 3.0, False], [1, 3.5, 3.0, 4.0, True]]
    sizes = drawn["Data set sizes per iteration"]
    assert sorted(zip(sizes["iteration"], sizes["data set"], sizes["rows"])) == [
        (0, "dpo", 0), (0, "sft", 3), (1, "dpo", 1), (1, "sft", 6)]
    loss = drawn["Training loss"]
    assert len(loss) == 10 and loss["loss"].iloc[-1] == 2.1
    assert "Challenger against champion" in drawn and "Generations and judgments per iteration (-1: none)" in drawn
    models = app.dataframe[0].value
    assert models["spec"].tolist() == ["tiny+sft-1"] and models["champion of an iteration"].tolist() == [True]


def test_an_empty_store_says_what_fills_the_page(store: Store, pages: Pages) -> None:
    app = pages.open(store, "flywheel")
    assert not app.exception
    assert "`docflywheel run` writes one row per turn" in app.info[0].value


def test_missing_or_odd_metrics_are_left_out_not_guessed() -> None:
    iterations = [{"iteration": 0, "champion_model_id": None, "metrics": {"champion_score": 3.0}},
                  {"iteration": 1, "champion_model_id": None, "metrics": None},
                  {"iteration": 2, "champion_model_id": None,
                   "metrics": {"datasets": {"sft": 10, "dpo": 4}, "promoted": True, "n_rows_note": "many",
                               "training_loss": {"sft": 1.2}}}]
    frame = champion_frame(iterations)
    assert frame["champion"].tolist()[0] == 3.0 and frame["champion"].isna().tolist() == [False, True, True]
    assert frame["promoted"].tolist() == [False, False, True]
    assert size_frame(iterations).values.tolist() == [[2, "sft", 10], [2, "dpo", 4]]
    runs = [{"id": "r1", "kind": "dpo", "iteration": 2,
             "metrics": {"loss": [{"step": 1, "loss": 0.7}, {"step": 2}, "junk"]}},
            {"id": "r2", "kind": "sft", "iteration": 2, "metrics": None},
            {"id": "r3", "kind": "sft", "iteration": 3,  # as training/runs.py records it
             "metrics": {"steps": 2, "curve": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}], "final_loss": 1.5}}]
    assert loss_frame(runs).values.tolist() == [["dpo it2 r1", 1, 0.7], ["sft it3 r3", 1, 2.0], ["sft it3 r3", 2, 1.5]]
