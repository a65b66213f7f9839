"""The review queue: items routed to review first, then any generation; label, skip or comment, and the
next item appears. Labels are written at once (one `human_labels` row per criterion, or per pair)."""

from __future__ import annotations

import functools
import time
from typing import Any

import streamlit as st

from docflywheel.dashboard.item import as_markdown, render_item, short
from docflywheel.errors import InputError
from docflywheel.eval.rubric import Criterion, load_rubric
from docflywheel.records import content_id
from docflywheel.store import Store

PAGE_SIZE = 25
SCALE = [1, 2, 3, 4, 5]
VERDICTS = {"A is better": "A", "tie": "tie", "B is better": "B"}
SAVE_KEY, SKIP_KEY = "Alt+S", "Alt+K"
ANNOTATOR = "annotator"  # session state key of the name typed in the sidebar


def label_rows(generation_id: str, annotator: str, *, scores: dict[str, int] | None = None,
               pair: str | None = None, verdict: str | None = None, criterion: str | None = None,
               comment: str | None = None, skip: bool = False) -> list[dict[str, Any]]:
    """The `human_labels` rows of one act of labelling: a score per criterion, one pair verdict, or a skip.

    A comment alone is kept as a row with criterion "comment" and no score. Ids include the time, so
    labelling the same item again adds rows instead of being dropped as a duplicate.
    """
    annotator = annotator.strip()
    if not annotator:
        raise InputError("enter your name in the sidebar (Annotator) before labelling")
    comment = (comment or "").strip() or None
    now = time.time_ns()
    base = {"generation_id": generation_id, "generation_b_id": None, "annotator": annotator, "comment": comment,
            "score": None, "verdict": None, "status": "labelled"}
    if skip:
        rows = [{**base, "criterion": "all", "status": "skipped"}]
    elif pair is not None:
        if verdict not in VERDICTS.values() or not criterion:
            raise InputError("pick which of the pair is better, and the criterion")
        rows = [{**base, "generation_b_id": pair, "criterion": criterion, "verdict": verdict}]
    else:
        rows = [{**base, "criterion": name, "score": float(value)} for name, value in (scores or {}).items()
                if value is not None]
        if not rows and comment:
            rows = [{**base, "criterion": "comment"}]
        if not rows:
            raise InputError("pick a score for at least one criterion, write a comment, or skip")
    return [{**row, "id": content_id("label", row["generation_id"], row["generation_b_id"], row["criterion"],
                                     annotator, now)} for row in rows]


@functools.cache
def _criteria() -> tuple[Criterion, ...]:
    return load_rubric().criteria


@st.cache_data(ttl=30, show_spinner=False)
def _options(_store: Store, path: str) -> dict[str, list[Any]]:
    """The filter choices, read at most every 30 s (`path` is the cache key)."""
    return _store.review_options()


def _filters(options: dict[str, list[Any]]) -> dict[str, Any]:
    with st.expander("Filters", expanded=False):
        first, second = st.columns(2)
        review_only = first.toggle("Only items marked for review", value=False, key="f_review_only")
        unlabelled = first.toggle("Hide items already labelled or skipped", value=True, key="f_unlabelled")
        spread = first.slider("Judge disagreement (route spread) at least", 0.0, 1.0, 0.0, 0.05, key="f_spread")
        kinds = second.multiselect("Task kind", options["kinds"], key="f_kinds")
        models = second.multiselect("Model", options["models"], key="f_models")
        iterations = second.multiselect("Iteration", options["iterations"], key="f_iterations")
    return {"review_only": review_only, "unlabelled_only": unlabelled, "kinds": kinds, "models": models,
            "iterations": iterations, "min_spread": spread or None}


def render(store: Store) -> None:
    st.header("Review queue")
    if message := st.session_state.pop("review_saved", None):
        st.success(message)
    filters = _filters(_options(store, str(store.path)))
    page = st.session_state.get("review_page", 1)
    rows, total = store.review_items(**filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    handled = st.session_state.setdefault("review_handled", [])
    rows = [row for row in rows if row["generation_id"] not in handled] or rows
    marked = sum(row["marked"] for row in rows)
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages:  # the filters or the labels shrank the queue under the page shown
        st.session_state["review_page"] = 1
        st.rerun()
    if pages > 1:
        st.number_input(f"Page of {PAGE_SIZE} (of {pages:,})", 1, pages, key="review_page")
    st.caption(f"{total:,} items match; {len(rows)} listed here, {marked} of them marked for review. "
               f"Save: {SAVE_KEY} · Skip: {SKIP_KEY} · Tab and arrow keys move between scores.")
    if not rows:
        st.info("Nothing to review with these filters. Widen them, or run `docflywheel agents run` to judge more.")
        return
    choice = st.selectbox("Item", range(len(rows)), format_func=lambda i: _describe(rows[i]),
                          key=f"review_pick_{len(handled)}")
    row = rows[choice or 0]
    item = store.review_item(row["generation_id"])
    if item is None:
        st.warning(f"generation {row['generation_id']} is no longer in the store")
        return
    render_item(item)
    _label_form(store, item)


def _describe(row: dict[str, Any]) -> str:
    flag = "review" if row["marked"] else (row["decision"] or "not routed")
    spread = f", spread {row['spread']:.2f}" if row["spread"] is not None else ""
    done = " · labelled" if row["labelled"] else ""
    return f"{row['qualname']} · {row['model']} · {row['role']} · {flag}{spread}{done} · {short(row['generation_id'])}"


def _pair_candidates(item: dict[str, Any]) -> list[dict[str, Any]]:
    """Generations to compare with: those a pairwise judge paired it with, its parent, then its siblings."""
    own = item["generation"]["id"]
    paired = {j["generation_b_id"] if j["generation_id"] == own else j["generation_id"]
              for j in item["judgments"] if j["generation_b_id"] is not None}
    parent = item["generation"]["parent_id"]
    return sorted(item["siblings"], key=lambda g: (g["id"] not in paired, g["id"] != parent))


def _label_form(store: Store, item: dict[str, Any]) -> None:
    generation_id = item["generation"]["id"]
    st.divider()
    candidates = _pair_candidates(item)
    modes = ["Score each criterion"] + (["Pick the better of a pair"] if candidates else [])
    mode = st.radio("Label", modes, horizontal=True, key="review_mode")
    pair = None
    if mode == modes[-1] and len(modes) > 1:
        pick = st.selectbox("Compare with (B)", range(len(candidates)), key=f"pair_{generation_id}",
                            format_func=lambda i: f"{candidates[i]['role']} by {candidates[i]['model']} · "
                                                  f"{short(candidates[i]['id'])}")
        pair = candidates[pick or 0]
        left, right = st.columns(2)
        left.markdown("**A: this generation**")
        left.container(border=True).markdown(as_markdown(item["generation"]["text"]) or "*(empty)*")
        right.markdown("**B**")
        right.container(border=True).markdown(as_markdown(pair["text"]) or "*(empty)*")
    criteria = _criteria()
    with st.form(f"label_{generation_id}", enter_to_submit=False):
        scores: dict[str, int] = {}
        verdict = criterion = None
        if pair is None:
            columns = st.columns(2)
            for n, c in enumerate(criteria):
                scale = "\n".join(f"{point}: {text}" for point, text in c.scale.items())
                scores[c.id] = columns[n % 2].radio(c.name, SCALE, index=None, horizontal=True,
                                                    key=f"score_{generation_id}_{c.id}", help=f"{c.definition}\n\n{scale}")
        else:
            criterion = st.selectbox("Criterion", [c.id for c in criteria], key=f"pair_criterion_{generation_id}")
            picked = st.radio("Which is better?", list(VERDICTS), index=None, horizontal=True,
                              key=f"pair_verdict_{generation_id}")
            verdict = VERDICTS.get(picked) if picked else None
        comment = st.text_area("Comment", key=f"comment_{generation_id}", height=68)
        with st.container(horizontal=True):
            saved = st.form_submit_button("Save and next", type="primary", shortcut=SAVE_KEY)
            skipped = st.form_submit_button("Skip", shortcut=SKIP_KEY)
    if saved or skipped:
        try:
            rows = label_rows(generation_id, st.session_state.get(ANNOTATOR) or "", scores=scores,
                              pair=pair["id"] if pair else None, verdict=verdict, criterion=criterion,
                              comment=comment, skip=skipped)
        except InputError as error:
            st.error(str(error))
            return
        written = store.insert("human_labels", rows)
        st.session_state["review_handled"].append(generation_id)
        st.session_state["review_saved"] = (f"Skipped {short(generation_id)}." if skipped else
                                            f"Saved {written} label(s) for {short(generation_id)}.")
        st.rerun()

