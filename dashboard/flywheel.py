"""Flywheel: each iteration's champion score with its interval, data set sizes, training loss curves and
the models promoted along the way.

Reads the contracts of the tables others write (training/loop.py, training/runs.py): `iterations.metrics`
{champion, champion_score, ci_low, ci_high, delta, delta_ci_low, delta_ci_high, promoted, datasets: {kind:
rows}, ...}, `training_runs.metrics` {"curve" (or "loss"): [{"step", "loss"}, ...], ...}; anything missing
is left out of the charts rather than guessed.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from docflywheel.dashboard import charts
from docflywheel.dashboard.item import short
from docflywheel.store import Store

SIZE_WORDS = ("rows", "pairs", "size", "examples")


def champion_frame(iterations: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per iteration with its champion score, interval, delta and whether it promoted a model."""
    rows = []
    for it in iterations:
        m = it["metrics"] if isinstance(it["metrics"], dict) else {}
        rows.append({"iteration": it["iteration"], "champion": m.get("champion_score"), "ci_low": m.get("ci_low"),
                     "ci_high": m.get("ci_high"), "delta": m.get("delta"), "delta_ci_low": m.get("delta_ci_low"),
                     "delta_ci_high": m.get("delta_ci_high"), "promoted": bool(m.get("promoted", False)),
                     "champion_model": it["champion_model_id"], "champion_spec": m.get("champion")})
    return pd.DataFrame(rows, columns=["iteration", "champion", "ci_low", "ci_high", "delta", "delta_ci_low",
                                       "delta_ci_high", "promoted", "champion_model", "champion_spec"])


def size_frame(iterations: list[dict[str, Any]]) -> pd.DataFrame:
    """Data set sizes per iteration: a `datasets` mapping {kind: rows}, or numeric metrics named like rows / pairs."""
    rows = []
    for it in iterations:
        m = it["metrics"] if isinstance(it["metrics"], dict) else {}
        for key, value in m.items():
            if isinstance(value, dict) and any(word in key for word in ("dataset", "size")):
                rows += [{"iteration": it["iteration"], "data set": k, "rows": v}
                         for k, v in value.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
            elif (isinstance(value, (int, float)) and not isinstance(value, bool)
                  and any(word in key for word in SIZE_WORDS)):
                rows.append({"iteration": it["iteration"], "data set": key, "rows": value})
    return pd.DataFrame(rows, columns=["iteration", "data set", "rows"])


def loss_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """Every logged (step, loss) of every training run, named by kind, iteration and id."""
    rows = []
    for run in runs:
        metrics = run["metrics"] if isinstance(run["metrics"], dict) else {}
        name = f"{run['kind']} it{run['iteration']} {short(run['id'])}"
        curve = metrics.get("loss") if isinstance(metrics.get("loss"), list) else metrics.get("curve")
        rows += [{"run": name, "step": point["step"], "loss": point["loss"]} for point in curve or []
                 if isinstance(point, dict) and point.get("loss") is not None and point.get("step") is not None]
    return pd.DataFrame(rows, columns=["run", "step", "loss"])


def _champion_chart(frame: pd.DataFrame) -> alt.LayerChart:
    base = alt.Chart(frame.dropna(subset=["champion"])).encode(x=alt.X("iteration:O"))
    band = base.mark_rule(strokeWidth=2).encode(
        y=alt.Y("ci_low:Q", title="champion score (95% interval)", scale=alt.Scale(zero=False)), y2=alt.Y2("ci_high"))
    line = base.mark_line().encode(y=alt.Y("champion:Q"))
    points = base.mark_point(filled=True, size=90).encode(
        y=alt.Y("champion:Q"),
        color=alt.Color("promoted:N", scale=alt.Scale(domain=[False, True], range=["#888888", "#2a9d3a"])),
        tooltip=[charts.tip("iteration", "O"), charts.tip("champion", "Q", ".3f"), charts.tip("ci_low", "Q", ".3f"),
                 charts.tip("ci_high", "Q", ".3f"), charts.tip("delta", "Q", "+.3f"), charts.tip("promoted"),
                 charts.tip("champion_spec")])
    return alt.layer(band, line, points).properties(title="Champion score per iteration")


def _delta_chart(frame: pd.DataFrame) -> alt.LayerChart:
    base = alt.Chart(frame.dropna(subset=["delta"])).encode(x=alt.X("iteration:O"))
    bars = base.mark_bar(opacity=0.6).encode(y=alt.Y("delta:Q", title="challenger - champion (95% interval)"),
                                             color=alt.Color("promoted:N", legend=None))
    rule = base.mark_rule(strokeWidth=2).encode(y=alt.Y("delta_ci_low:Q"), y2=alt.Y2("delta_ci_high"))
    zero = alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(strokeDash=[4, 4]).encode(y=alt.Y("y:Q"))
    return alt.layer(bars, rule, zero).properties(title="Challenger against champion")


def render(store: Store) -> None:
    st.header("Flywheel")
    data = store.flywheel_overview()
    champions = champion_frame(data["iterations"])
    if champions.empty:
        st.info("No iteration recorded yet: `docflywheel run` writes one row per turn of the loop.")
    else:
        latest = champions.iloc[-1]
        cols = st.columns(4)
        cols[0].metric("Iterations", len(champions))
        cols[1].metric("Champion score", f"{latest['champion']:.3f}" if pd.notna(latest["champion"]) else "-",
                       f"{latest['delta']:+.3f}" if pd.notna(latest["delta"]) else None)
        cols[2].metric("Promotions", int(champions["promoted"].sum()))
        cols[3].metric("Training runs", len(data["training_runs"]))
        left, right = st.columns(2)
        left.altair_chart(_champion_chart(champions), width="stretch")
        right.altair_chart(_delta_chart(champions), width="stretch")
    sizes = size_frame(data["iterations"])
    volume = pd.DataFrame(data["volume"], columns=["iteration", "generations", "judgments"]).fillna({"iteration": -1})
    left, right = st.columns(2)
    if not sizes.empty:
        left.altair_chart(charts.bars(sizes, "iteration", "rows", color="data set", title="Data set sizes per iteration"),
                          width="stretch")
    elif data["datasets"]:
        versions = pd.DataFrame(data["datasets"])[["name", "version", "row_count"]]
        left.altair_chart(charts.bars(versions, "version", "row_count", color="name", title="Data set versions"),
                          width="stretch")
    if not volume.empty:
        long = volume.melt("iteration", var_name="rows of", value_name="count")
        right.altair_chart(charts.bars(long, "iteration", "count", color="rows of",
                                       title="Generations and judgments per iteration (-1: none)"), width="stretch")
    losses = loss_frame(data["training_runs"])
    if not losses.empty:
        st.altair_chart(charts.lines(losses, "step", "loss", "run", points=False, title="Training loss"),
                        width="stretch")
    elif data["training_runs"]:
        st.caption("Training runs recorded, but none logged a loss curve yet.")
    _models(data["models"], champions)


def _models(models: list[dict[str, Any]], champions: pd.DataFrame) -> None:
    if not models:
        return
    st.subheader("Models")
    champion_ids = set(champions["champion_model"].dropna()) if not champions.empty else set()
    st.dataframe(pd.DataFrame([{
        "spec": m["spec"], "role": m["role"], "champion of an iteration": m["id"] in champion_ids,
        "base model": m["base_model"], "adapter": m["adapter"], "version": m["version"],
        "training run": short(m["training_run_id"]), "created": m["created_at"]} for m in models]),
        hide_index=True, width="stretch")
