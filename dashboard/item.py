"""One review item on screen: the task and its code, the documentation next to the human reference, every
judge's score and rationale, verifier evidence, and the critique and revision chain."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st


def short(identifier: str | None) -> str:
    return (identifier or "")[:8]


def as_markdown(text: str) -> str:
    """Documentation as Markdown, with doctest examples fenced: a bare `>>>` would render as nested quotes."""
    out: list[str] = []
    fenced = in_example = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and not in_example and line.lstrip().startswith(">>>"):
            out.append("```pycon")
            in_example = True
        elif in_example and not line.strip():
            out.append("```")
            in_example = False
        out.append(line)
    return "\n".join(out + (["```"] if in_example else []))


def render_item(item: dict[str, Any]) -> None:
    """Everything stored about one generation (a `Store.review_item` result)."""
    generation, task = item["generation"], item["task"] or {}
    routes = item["routes"]
    st.subheader(task.get("qualname", generation["task_id"]))
    route = routes[-1] if routes else None
    st.caption(" · ".join(str(part) for part in (
        task.get("kind"), f"model {generation['model']}", generation["role"],
        f"iteration {generation['iteration']}" if generation["iteration"] is not None else None,
        f"route: {route['decision']} ({route['reason']})" if route else "not routed yet",
        f"id {short(generation['id'])}") if part))
    with st.expander("Task and code", expanded=True):
        if task.get("signature"):
            st.markdown(f"`{task['signature']}`")
        st.code(task.get("code", ""), language=task.get("language") or "python")
        if task.get("context"):
            st.caption("context")
            st.code(task["context"], language=task.get("language") or "python")
    doc, reference = st.columns(2)
    with doc:
        st.markdown("**Generated documentation**")
        with st.container(border=True):
            st.markdown(as_markdown(generation["text"]) or "*(empty)*")
    with reference:
        st.markdown("**Human reference**")
        with st.container(border=True):
            st.markdown(as_markdown(task.get("reference") or "") or "*No human reference for this task.*")
    render_judgments(item["judgments"], generation["id"])
    render_chain(item)
    if item["labels"]:
        st.markdown("**Labels so far**")
        st.dataframe(pd.DataFrame([{k: row[k] for k in ("annotator", "criterion", "score", "verdict", "status",
                                                         "comment", "created_at")} for row in item["labels"]]),
                     hide_index=True, width="stretch")


def render_judgments(judgments: list[dict[str, Any]], generation_id: str) -> None:
    pointwise = [j for j in judgments if j["generation_b_id"] is None and j["generation_id"] == generation_id]
    pairwise = [j for j in judgments if j["generation_b_id"] is not None]
    st.markdown(f"**Judges** ({len(pointwise)} scores, {len(pairwise)} pairwise verdicts)")
    if not judgments:
        st.info("No judgment of this generation yet.")
        return
    if pointwise:
        st.dataframe(pd.DataFrame([{
            "judge": judge_name(j), "criterion": j["criterion"], "score": j["score"], "status": j["status"],
            "rationale": j["rationale"] or (j["raw"] or "")[:200]} for j in pointwise]),
            hide_index=True, width="stretch", column_config={"rationale": st.column_config.TextColumn(width="large")})
    if pairwise:
        st.dataframe(pd.DataFrame([{
            "judge": judge_name(j), "criterion": j["criterion"], "first": short(j["generation_id"]),
            "second": short(j["generation_b_id"]), "order shown": j["order_shown"] or "final",
            "verdict": j["verdict"], "status": j["status"], "rationale": j["rationale"]} for j in pairwise]),
            hide_index=True, width="stretch")
    for j in pointwise:
        if j["judge_kind"] == "verifier" and j["score"] is not None and j["score"] < 1 and j["evidence"]:
            with st.expander(f"Verifier evidence: {j['criterion']} scored {j['score']:.2f}: {j['rationale'] or ''}"):
                render_evidence(j["evidence"])


def render_evidence(evidence: dict[str, Any] | str) -> None:
    """A verifier's evidence: each failing example with its expected and actual output, else the raw JSON."""
    if isinstance(evidence, str):
        evidence = json.loads(evidence)
    failures = evidence.get("failures") if isinstance(evidence, dict) else None
    for failure in failures or []:
        where = f"line {failure['line']}" if "line" in failure else "example"
        st.markdown(f"*Failing {where}*")
        source = failure.get("source") or failure.get("code") or failure.get("text")
        if source:
            st.code(source, language="python")
        if "expected" in failure or "got" in failure:
            expected, got = st.columns(2)
            expected.markdown("expected")
            expected.code(str(failure.get("expected", "")), language="text")
            got.markdown("got")
            got.code(str(failure.get("got", "")), language="text")
        if failure.get("error"):
            st.code(str(failure["error"]), language="text")
    rest = {k: v for k, v in evidence.items() if k != "failures"} if isinstance(evidence, dict) else evidence
    if rest:
        st.json(rest, expanded=False)


def render_chain(item: dict[str, Any]) -> None:
    """Original -> critique -> revision -> ..., with this generation marked; critiques not yet revised last."""
    chain, critiques = item["chain"], item["critiques"]
    if len(chain) <= 1 and not critiques:
        return
    st.markdown("**Critique and revision chain**")
    current = item["generation"]["id"]
    for step in chain:
        if step["critique_id"]:
            principle = step["principle_id"] or "?"
            st.markdown(f"↳ critique against principle **{principle}**: {step['critique'] or '(none)'}")
        marker = " (this one)" if step["id"] == current else ""
        with st.expander(f"{step['role']} by {step['model']} · {short(step['id'])}{marker}", expanded=bool(marker)):
            st.markdown(as_markdown(step["text"]) or "*(empty)*")
    revised = {step["critique_id"] for step in chain}
    for critique in critiques:
        if critique["id"] not in revised:
            st.markdown(f"↳ critique against principle **{critique['principle_id']}** ({critique['status']}), "
                        f"no revision yet: {critique['critique']}")


def judge_name(row: dict[str, Any]) -> str:
    """How pages name a judge: its kind and model."""
    return f"{row['judge_kind']}/{row['judge_model'] or '-'}"
