"""The Altair charts the pages draw: estimates with intervals, heat maps, lines and bars.

Every encoding is a channel object (`alt.X(...)`), never a bare "field:Q" string or a dict: Altair checks
those against the Vega-Lite JSON schema one by one, which cost 20-60 ms per chart (bench/dashboard.py).
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd


FACET_WIDTH = 220  # pixels per panel: three panels fit the page's main column


def tip(field: str, kind: str = "N", fmt: str | None = None) -> alt.Tooltip:
    return alt.Tooltip(f"{field}:{kind}", format=fmt) if fmt else alt.Tooltip(f"{field}:{kind}")


def estimates(frame: pd.DataFrame, y: str, *, facet: str | None = None, title: str = "",
              domain: tuple[float, float] | None = None) -> alt.LayerChart | alt.FacetChart:
    """A point per row at `value` with a rule from `ci_low` to `ci_high`, one row per `y`, faceted by `facet`."""
    scale = alt.Scale(domain=list(domain)) if domain else alt.Scale(zero=False)
    tooltip = [tip(y), tip("value", "Q", ".3f"), tip("ci_low", "Q", ".3f"), tip("ci_high", "Q", ".3f"), tip("n", "Q")]
    base = alt.Chart(frame)
    rule = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("ci_low:Q", scale=scale, title="value and 95% interval"), x2=alt.X2("ci_high"),
        y=alt.Y(f"{y}:N", title=None), color=alt.Color(f"{y}:N", legend=None))
    point = base.mark_point(filled=True, size=80).encode(
        x=alt.X("value:Q", scale=scale), y=alt.Y(f"{y}:N", title=None), color=alt.Color(f"{y}:N", legend=None),
        tooltip=tooltip + ([tip(facet)] if facet else []))
    layered = alt.layer(rule, point)
    if facet:
        return layered.properties(width=FACET_WIDTH).facet(column=alt.Column(f"{facet}:N", title=None), title=title)
    return layered.properties(title=title)


def heatmap(frame: pd.DataFrame, x: str, y: str, value: str, *, title: str = "", fmt: str = ".2f",
            scheme: str = "blues", y_sort: str = "ascending",
            domain: tuple[float, float] | None = None) -> alt.LayerChart:
    """Cells coloured by `value` (on a fixed `domain` where given), each with its figure written in it."""
    scale = alt.Scale(scheme=scheme, domain=list(domain), clamp=True) if domain else alt.Scale(scheme=scheme)
    base = alt.Chart(frame).encode(x=alt.X(f"{x}:O"), y=alt.Y(f"{y}:O", sort=y_sort))
    cells = base.mark_rect().encode(color=alt.Color(f"{value}:Q", scale=scale),
                                    tooltip=[tip(x, "O"), tip(y, "O"), tip(value, "Q", fmt)])
    text = base.mark_text(baseline="middle").encode(text=alt.Text(f"{value}:Q", format=fmt))
    return alt.layer(cells, text).properties(title=title)


def lines(frame: pd.DataFrame, x: str, y: str, color: str, *, title: str = "", x_title: str | None = None,
          y_title: str | None = None, points: bool = True) -> alt.Chart:
    """One line per `color`."""
    return alt.Chart(frame).mark_line(point=points).encode(
        x=alt.X(f"{x}:Q", title=x_title or x, axis=alt.Axis(format="~d")),
        y=alt.Y(f"{y}:Q", title=y_title or y, scale=alt.Scale(zero=False), axis=alt.Axis(format=".2f")),
        color=alt.Color(f"{color}:N"), tooltip=[tip(color), tip(x, "Q"), tip(y, "Q", ".3f")]).properties(title=title)


def bars(frame: pd.DataFrame, x: str, y: str, *, color: str | None = None, title: str = "") -> alt.Chart:
    """Bars of `y` per `x`, stacked by `color`."""
    encoding: dict[str, Any] = {"x": alt.X(f"{x}:O", axis=alt.Axis(labelAngle=0)), "y": alt.Y(f"{y}:Q"),
                                "tooltip": [tip(x, "O"), tip(y, "Q")] + ([tip(color)] if color else [])}
    if color:
        encoding["color"] = alt.Color(f"{color}:N")
    return alt.Chart(frame).mark_bar().encode(**encoding).properties(title=title)
