"""Agreement: each judge against the human labels in the store, with the statistics of eval/agreement.py.

Per judge and criterion: Krippendorff's alpha (ordinal) against the median of the people who rated the
item, quadratic-weighted kappa and Spearman, with 95% percentile-bootstrap intervals; a confusion heat map;
position bias (verdicts that survive the swap, first-shown wins) and length bias; alpha as labels grow.
Judges scoring on 0-1 (verifiers, similarity) are put on the people's 1-5 scale as 1 + 4s, the inverse of
agents/route.py's mapping, and every score is rounded to the half point (a median of two raters can be 3.5).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from docflywheel.dashboard import background, charts
from docflywheel.eval.agreement import (FIRST, SECOND, TIE, Bootstrap, length_bias, ordinal_alpha,
                                        pairwise_agreement, pointwise_agreement, position_consistency, spearman,
                                        swap_verdict)
from docflywheel.store import Store

DOMAIN = [1 + step / 2 for step in range(9)]  # 1, 1.5, ..., 5
POINT = Bootstrap(n_resamples=1)  # for figures shown without an interval: only `.value` is read
ESTIMATE_COLUMNS = ["judge", "statistic", "value", "ci_low", "ci_high", "n"]
CODES = {"A": FIRST, "B": SECOND, "tie": TIE}
COLUMNS = ["judge_kind", "judge_model", "criterion", "generation_id", "score", "human", "raters", "labelled_at",
           "length"]


def pointwise_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """`Store.agreement_data()["pointwise"]` with a `judge` name and `judge_score`, the judge's score on the 1-5 scale."""
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["judge"] = frame["judge_kind"] + "/" + frame["judge_model"].replace("", "-")
    frame["score"] = frame["score"].astype(float)
    frame["human"] = frame["human"].astype(float)
    unit = frame.groupby("judge")["score"].transform(lambda s: bool(s.min() >= 0 and s.max() <= 1 and s.min() < 1))
    raw = np.where(unit.astype(bool), 1 + 4 * frame["score"], frame["score"]) if len(frame) else frame["score"]
    frame["judge_score"] = np.clip(np.round(np.asarray(raw, dtype=float) * 2) / 2, 1, 5)
    return frame


def judge_estimates(chosen: pd.DataFrame, resamples: int) -> pd.DataFrame:
    """Alpha, kappa and Spearman of every judge on the rows of one criterion, and length bias (Spearman of
    score with length) beside the people's own, each with its interval."""
    boot = Bootstrap(n_resamples=resamples)
    out = []
    for judge, group in chosen.groupby("judge"):
        figures = pointwise_agreement(group["judge_score"], group["human"], value_domain=DOMAIN, bootstrap=boot)
        for name, estimate in (("alpha", figures.alpha), ("kappa", figures.kappa), ("Spearman", figures.spearman)):
            out.append({"judge": judge, "statistic": name, **asdict(estimate)})
        out.append({"judge": judge, "statistic": "length bias",
                    **asdict(spearman(group["score"], group["length"], bootstrap=boot))})
    people = chosen.drop_duplicates("generation_id")
    if len(people):
        out.append({"judge": "people", "statistic": "length bias",
                    **asdict(spearman(people["human"], people["length"], bootstrap=boot))})
    return pd.DataFrame(out, columns=ESTIMATE_COLUMNS)


def alpha_grid(frame: pd.DataFrame) -> pd.DataFrame:
    """Alpha (value only) of every judge on every criterion it shares with the labels."""
    rows = [{"judge": judge, "criterion": criterion, "n": len(group),
             "alpha": ordinal_alpha(group["judge_score"], group["human"], value_domain=DOMAIN, bootstrap=POINT).value}
            for (judge, criterion), group in frame.groupby(["judge", "criterion"]) if len(group) >= 2]
    return pd.DataFrame(rows, columns=["judge", "criterion", "n", "alpha"]).dropna()


def alpha_over_time(chosen: pd.DataFrame, steps: int = 12) -> pd.DataFrame:
    """Alpha of each judge on the first k items of one criterion, in the order they were labelled, for growing k."""
    order = chosen.groupby("generation_id")["labelled_at"].min().sort_values().index
    if len(order) < 2:
        return pd.DataFrame(columns=["judge", "labels", "alpha"])
    rank = pd.Series(np.arange(1, len(order) + 1), index=order)
    chosen = chosen.assign(rank=chosen["generation_id"].map(rank))
    rows = []
    for size in np.unique(np.linspace(min(5, len(order)), len(order), steps).astype(int)):
        for judge, group in chosen[chosen["rank"] <= size].groupby("judge"):
            if len(group) >= 2:
                value = ordinal_alpha(group["judge_score"], group["human"], value_domain=DOMAIN, bootstrap=POINT).value
                rows.append({"judge": judge, "labels": int(size), "alpha": value})
    return pd.DataFrame(rows, columns=["judge", "labels", "alpha"]).dropna()


def confusion(frame: pd.DataFrame, judge: str, criterion: str) -> pd.DataFrame:
    """How often each (judge score, human median) pair occurs."""
    chosen = frame[(frame["judge"] == judge) & (frame["criterion"] == criterion)]
    return chosen.groupby(["judge_score", "human"]).size().reset_index(name="items")


def _codes(verdicts: pd.Series) -> np.ndarray:
    return verdicts.map(CODES).to_numpy(dtype=np.int64)


def position_estimates(sample: pd.DataFrame, human: pd.DataFrame, resamples: int) -> pd.DataFrame:
    """Per pairwise judge: share of verdicts that survive the swap, share won by the first shown, and length
    bias of its final verdicts (Spearman with len(first) - len(second)); the people's length bias beside it."""
    boot = Bootstrap(n_resamples=resamples)
    out = []
    for judge, group in sample.groupby("judge"):
        ab, ba = _codes(group["ab"]), _codes(group["ba"])
        out.append({"judge": judge, "statistic": "survives the swap",
                    **asdict(position_consistency(ab, ba, bootstrap=boot))})
        first = np.concatenate([ab == FIRST, ba == FIRST]).astype(float)
        out.append({"judge": judge, "statistic": "first shown wins", "value": float(first.mean()),
                    "ci_low": np.nan, "ci_high": np.nan, "n": len(first)})
        final = np.where(ab == swap_verdict(ba), ab, TIE)
        out.append({"judge": judge, "statistic": "length bias",
                    **asdict(length_bias(final, group["length_difference"].astype(float), bootstrap=boot))})
    if len(human) >= 2:
        out.append({"judge": "people", "statistic": "length bias", **asdict(length_bias(
            _codes(human["human"]), human["length_difference"].astype(float), bootstrap=boot))})
    return pd.DataFrame(out, columns=ESTIMATE_COLUMNS)


def pair_estimates(judged: pd.DataFrame, resamples: int) -> pd.DataFrame:
    """Accuracy of each pairwise judge (per criterion) against people's pair verdicts, with and without ties."""
    boot = Bootstrap(n_resamples=resamples)
    out = []
    for (judge, criterion), group in judged.groupby(["judge", "criterion"]):
        figures = pairwise_agreement(_codes(group["verdict"]), _codes(group["human"]), bootstrap=boot)
        name = f"{judge} on {criterion}"
        out.append({"judge": name, "statistic": "accuracy", **asdict(figures.accuracy)})
        out.append({"judge": name, "statistic": "accuracy without ties", **asdict(figures.accuracy_without_ties)})
    return pd.DataFrame(out, columns=ESTIMATE_COLUMNS)


def _judged(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["judge_kind", "judge_model", "criterion", "human", "verdict",
                                        "length_difference"])
    frame["judge"] = frame["judge_kind"] + "/" + frame["judge_model"].replace("", "-")
    return frame


def _ready(waiting: list[str], fn: Any, *args: Any) -> Any:
    """fn(*args) from the background thread, or None while it runs (noted in `waiting`) or if it failed."""
    try:
        ready = background.result(fn, *args)
    except Exception as error:  # a failed statistic must not take the page down with it
        st.warning(f"{fn.__name__} failed ({type(error).__name__}: {error})")
        return None
    if ready is None:
        waiting.append(fn.__name__)
    return ready


def _with_intervals(waiting: list[str], fn: Any, *args: Any, resamples: int) -> pd.DataFrame:
    """fn's estimates with bootstrap intervals once the background job has them; meanwhile the values alone."""
    ready = _ready(waiting, fn, *args, resamples)
    return ready if ready is not None else fn(*args, 1).assign(ci_low=np.nan, ci_high=np.nan)


def render(store: Store) -> None:
    st.header("Agreement with people")
    data = store.agreement_data()
    frame = pointwise_frame(data["pointwise"])
    resamples = st.radio("Bootstrap resamples for the 95% intervals", [200, 1000], horizontal=True,
                         key="agreement_resamples", help="1000 as the `docflywheel agreement` command; 200 is quicker")
    if frame.empty and not data["pairs"]:
        st.info("No human labels in the store yet: label items on the Review queue page, then come back.")
    waiting: list[str] = []  # what is drawn without its background result yet
    if not frame.empty:
        _pointwise(frame, resamples, waiting)
    if data["judged_pairs"]:
        st.subheader("Pairwise judges against people's pair verdicts")
        figures = _with_intervals(waiting, pair_estimates, _judged(data["judged_pairs"]), resamples=resamples)
        st.altair_chart(charts.estimates(figures, "judge", facet="statistic", domain=(0, 1),
                                         title="Pairwise accuracy"), width="stretch")
    _position(data["position"], data["position_total"],
              pd.DataFrame(data["pairs"], columns=["human", "length_difference"]), resamples, waiting)
    background.rerun_when_ready(bool(waiting))


def _pointwise(frame: pd.DataFrame, resamples: int, waiting: list[str]) -> None:
    criteria = sorted(frame["criterion"].unique())
    counts = frame.drop_duplicates(["generation_id", "criterion"])["criterion"].value_counts()
    criterion = st.selectbox("Criterion", criteria, key="agreement_criterion",
                             format_func=lambda c: f"{c} ({counts.get(c, 0)} labelled items)")
    chosen = frame[frame["criterion"] == criterion].reset_index(drop=True)
    estimates = _with_intervals(waiting, judge_estimates, chosen, resamples=resamples)
    st.subheader(f"Judges against the people's median on {criterion}")
    st.altair_chart(charts.estimates(estimates[estimates["statistic"] != "length bias"], "judge", facet="statistic",
                                     domain=(-1, 1), title=f"Agreement on {criterion}"), width="stretch")
    grid, over = st.columns(2)
    with grid:
        cells = _ready(waiting, alpha_grid, frame)
        if cells is None:
            st.caption("Alpha per judge and criterion: computing ...")
        else:
            st.altair_chart(charts.heatmap(cells, "criterion", "judge", "alpha", scheme="redyellowgreen",
                                           domain=(0, 1), title="Alpha per judge and criterion"), width="stretch")
    with over:
        growth = _ready(waiting, alpha_over_time, chosen)
        if growth is None:
            st.caption("Alpha as labels grow: computing ...")
        else:
            st.altair_chart(charts.lines(growth, "labels", "alpha", "judge", x_title="labelled items",
                                         title=f"Alpha on {criterion} as labels grow"), width="stretch")
    matrix, length = st.columns(2)
    with matrix:
        judges = sorted(chosen["judge"].unique())
        judge = st.selectbox("Judge for the confusion matrix", judges, key="agreement_judge")
        st.altair_chart(charts.heatmap(confusion(frame, judge, criterion), "human", "judge_score", "items", fmt="d",
                                       y_sort="descending", title=f"{judge} vs people on {criterion}"),
                        width="stretch")
    with length:
        st.altair_chart(charts.estimates(estimates[estimates["statistic"] == "length bias"], "judge", domain=(-1, 1),
                                         title="Length bias: Spearman of score with length"), width="stretch")


def _position(sample: list[dict[str, Any]], total: int, human: pd.DataFrame, resamples: int,
              waiting: list[str]) -> None:
    if not sample:
        return
    frame = pd.DataFrame(sample)
    frame["judge"] = frame["judge_kind"] + "/" + frame["judge_model"].replace("", "-")
    st.subheader("Position and length bias of pairwise judges")
    st.caption(f"On {len(frame):,} of {total:,} pairs judged in both orders (a fixed hash sample). Length bias is "
               "Spearman's rho between the verdict (+1 first, -1 second) and len(first) - len(second): positive "
               "favours the longer; the people's figure, where they labelled pairs, is the baseline.")
    figures = _with_intervals(waiting, position_estimates, frame, human, resamples=resamples)
    st.altair_chart(charts.estimates(figures, "judge", facet="statistic", title="Position and length bias"),
                    width="stretch")
