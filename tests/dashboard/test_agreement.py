"""The agreement page in AppTest against a real store, and its statistics against eval/agreement.py."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from docflywheel.dashboard.agreement import DOMAIN, confusion, judge_estimates, pointwise_frame, position_estimates
from docflywheel.eval.agreement import Bootstrap, pointwise_agreement
from docflywheel.store import Store

if TYPE_CHECKING:
    from tests.dashboard.conftest import Flywheel, Pages


def _label_everything(store: Store) -> None:
    """Two people score every generation on two criteria: one as the rubric judge did, one a point lower."""
    judged = [j for rows in store.judgments_for([g.id for g in store.generations()], judge_kind="rubric").values()
              for j in rows]
    store.insert("human_labels", [{"id": f"{who}-{j['id']}", "generation_id": j["generation_id"],
                                   "criterion": j["criterion"], "score": max(1.0, j["score"] - shift),
                                   "annotator": who, "status": "labelled"}
                                  for j in judged for who, shift in (("ada", 0), ("grace", 1))])


def test_the_page_shows_values_at_once_then_intervals(flywheel: Flywheel, pages: Pages) -> None:
    _label_everything(flywheel.store)
    app = pages.open(flywheel.store, "agreement")
    assert not app.exception
    first = pages.charts(app)["Agreement on content_adequacy"]
    alpha = first[(first["judge"] == "rubric/tiny") & (first["statistic"] == "alpha")].iloc[0]
    assert alpha["n"] == 10 and 0.5 < alpha["value"] <= 1

    app = pages.settle(app)
    assert not app.exception
    drawn = pages.charts(app)
    ready = drawn["Agreement on content_adequacy"]
    for _, row in ready[ready["judge"] == "rubric/tiny"].iterrows():
        assert row["ci_low"] <= row["value"] <= row["ci_high"], row.to_dict()
    assert ready.loc[ready["statistic"] == "alpha", "value"].iloc[0] == pytest.approx(alpha["value"])
    cells = drawn["rubric/tiny vs people on content_adequacy"]
    assert cells["items"].sum() == 10
    grid = drawn["Alpha per judge and criterion"]
    assert set(zip(grid["judge"], grid["criterion"])) == {("rubric/tiny", "content_adequacy"), ("rubric/tiny", "fluency")}
    growth = drawn["Alpha on content_adequacy as labels grow"]
    assert growth["labels"].max() == 10
    bias = drawn["Position and length bias"]
    by_name = dict(zip(bias["statistic"], bias["value"]))
    assert by_name["survives the swap"] == 0.0 and by_name["first shown wins"] == 1.0  # "A" in both orders
    assert "Length bias: Spearman of score with length" in drawn


def test_figures_are_those_of_eval_agreement(flywheel: Flywheel) -> None:
    _label_everything(flywheel.store)
    frame = pointwise_frame(flywheel.store.agreement_data()["pointwise"])
    chosen = frame[frame["criterion"] == "fluency"].reset_index(drop=True)
    figures = judge_estimates(chosen, 200).set_index(["judge", "statistic"])
    direct = pointwise_agreement(chosen["judge_score"], chosen["human"], value_domain=DOMAIN,
                                 bootstrap=Bootstrap(n_resamples=200))
    assert figures.loc[("rubric/tiny", "alpha"), "value"] == pytest.approx(direct.alpha.value)
    assert figures.loc[("rubric/tiny", "kappa"), "ci_low"] == pytest.approx(direct.kappa.ci_low)
    assert figures.loc[("rubric/tiny", "Spearman"), "n"] == direct.spearman.n == 10
    assert ("people", "length bias") in figures.index


def test_judges_on_zero_to_one_are_put_on_the_people_scale() -> None:
    rows = [{"judge_kind": kind, "judge_model": model, "criterion": "examples", "generation_id": f"g{i}",
             "score": score, "human": 3.0, "raters": 1, "labelled_at": None, "length": 10}
            for kind, model, scores in (("verifier", "", [0.0, 0.5, 1.0, 0.74]), ("rubric", "tiny", [1.0, 1.0, 1.0, 1.0]))
            for i, score in enumerate(scores)]
    frame = pointwise_frame(rows)
    assert frame.loc[frame["judge"] == "verifier/-", "judge_score"].tolist() == [1.0, 3.0, 5.0, 4.0]
    assert frame.loc[frame["judge"] == "rubric/tiny", "judge_score"].tolist() == [1.0] * 4
    matrix = confusion(frame, "verifier/-", "examples")
    assert matrix["items"].sum() == 4 and set(matrix["human"]) == {3.0}


def test_position_estimates_count_verdicts_that_survive_the_swap() -> None:
    sample = pd.DataFrame({"judge": ["pairwise/tiny"] * 4, "ab": ["A", "B", "A", "tie"], "ba": ["B", "A", "A", "tie"],
                           "length_difference": [30, -20, 5, 0]})
    people = pd.DataFrame({"human": ["A", "B", "A"], "length_difference": [30, -20, 5]})
    figures = position_estimates(sample, people, 200).set_index(["judge", "statistic"])
    assert figures.loc[("pairwise/tiny", "survives the swap"), "value"] == 0.75
    assert figures.loc[("pairwise/tiny", "first shown wins"), "value"] == 4 / 8
    assert figures.loc[("pairwise/tiny", "length bias"), "value"] > 0  # the longer one won both times it was kept
    assert not math.isnan(figures.loc[("people", "length bias"), "value"])
    assert np.isnan(figures.loc[("pairwise/tiny", "first shown wins"), "ci_low"])


def test_without_labels_the_page_says_where_to_make_them(store: Store, pages: Pages) -> None:
    app = pages.open(store, "agreement")
    assert not app.exception
    assert "label items on the Review queue page" in app.info[0].value
