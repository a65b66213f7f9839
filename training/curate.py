"""Curation: judged generations become frozen, versioned data sets (SFT rows, preference pairs, KD rows).

Each data set stores the filter that made it: the settings, the jury it was scored by, how many candidates
every step dropped, which tasks decontamination removed, and the judges behind its rows. Its id is a content
hash of kind, settings, jury and rows, so curating the same inputs twice stores nothing new.

Position consistency of a preference pair: where the pairwise LLM judge has a final verdict for the pair, the
pair is kept only when that verdict survived the swap of order and does not prefer the rejected side. Without
a pairwise verdict the pair rests on the pointwise jury, which never shows two documents side by side, so its
order cannot sway it: such a pair is position-consistent by construction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from datasketch import MinHash, MinHashLSH

from docflywheel.agents.prompts import document_prompt
from docflywheel.errors import InputError
from docflywheel.eval.judges.pairwise import JUDGE_KIND as PAIRWISE
from docflywheel.eval.scoring import Jury, JuryScore, jury_scores, load_jury
from docflywheel.records import Generation, Task, content_id
from docflywheel.store import Store
from docflywheel.training.config import CurationSettings

Kind = Literal["sft", "dpo", "kd"]
KINDS: tuple[Kind, ...] = ("sft", "dpo", "kd")
# Whose generations each kind draws from: SFT learns from the student's own (revised) outputs, KD from the
# teacher's, and a preference pair may set any two documents of a task against each other.
ROLES = {"sft": ("student", "revision"), "dpo": ("student", "revision", "teacher"), "kd": ("teacher",)}
_TOKEN = re.compile(r"\w+|[^\w\s]")
T = TypeVar("T")


@dataclass(frozen=True)
class DatasetInfo:
    """A curated data set; `status` says whether it was just stored, already there, or empty (nothing stored)."""

    id: str | None
    name: str | None
    kind: str
    version: int | None
    row_count: int
    content_hash: str
    filter: dict[str, Any]
    status: Literal["new", "unchanged", "empty"]


def curate(store: Store, kind: str, settings: CurationSettings | None = None,
           iteration: int | None = None) -> DatasetInfo:
    """Curate one data set of `kind` (sft, dpo or kd) from the store and store it unless it is already there.

    iteration: draw only from generations of this loop iteration (overrides settings.iterations).
    """
    if kind not in KINDS:
        raise InputError(f"unknown data set kind '{kind}': choose sft, dpo or kd")
    settings = settings or CurationSettings()
    if iteration is not None:
        settings = settings.model_copy(update={"iterations": [iteration]})
    jury = load_jury()
    pool = _Pool.gather(store, settings, ROLES[kind])
    select = {"sft": _sft_rows, "dpo": _dpo_rows, "kd": _kd_rows}[kind]
    rows, sources = select(store, pool, settings, jury)
    return _save(store, kind, settings, jury, pool, rows, sources)


def curate_all(store: Store, settings: CurationSettings | None = None,
               iteration: int | None = None) -> list[DatasetInfo]:
    """An SFT, a DPO and a KD data set from the same settings."""
    return [curate(store, kind, settings, iteration) for kind in KINDS]


# -- the candidates every kind starts from -------------------------------------------------------------------------


@dataclass
class _Pool:
    tasks: dict[str, Task]
    generations: list[Generation]
    steps: list[dict[str, Any]]
    contaminated: list[str]
    held_out_tasks: int

    @classmethod
    def gather(cls, store: Store, settings: CurationSettings, roles: Sequence[str]) -> _Pool:
        """Generations of `roles` on tasks of the allowed splits, minus tasks near a held-out task."""
        tasks = {t.id: t for split in settings.splits for t in store.tasks(split=split)}
        held_out = [t for split in settings.held_out for t in store.tasks(split=split)]
        wanted = set(settings.iterations) if settings.iterations is not None else None
        found = [g for g in store.generations(task_ids=list(tasks))
                 if g.role in roles and (wanted is None or g.iteration in wanted)]
        steps = [{"step": f"candidates: {'/'.join(roles)} generations on {'/'.join(settings.splits)} tasks",
                  "unit": "generations", "dropped": 0, "left": len(found)}]
        contaminated = near_copies(list(tasks.values()), held_out, settings)
        kept = _step(steps, "task is a near copy of a held-out task's code", "generations", found,
                     lambda g: g.task_id not in contaminated)
        return cls(tasks, kept, steps, sorted(contaminated), len(held_out))

    def step(self, name: str, unit: str, items: list[T], keep: Callable[[T], bool]) -> list[T]:
        return _step(self.steps, name, unit, items, keep)


def _step(steps: list[dict[str, Any]], name: str, unit: str, items: list[T], keep: Callable[[T], bool]) -> list[T]:
    kept = [item for item in items if keep(item)]
    steps.append({"step": name, "unit": unit, "dropped": len(items) - len(kept), "left": len(kept)})
    return kept


def _length_ok(text: str, settings: CurationSettings) -> bool:
    return settings.min_words <= len(text.split()) <= settings.max_words


# -- the three kinds -----------------------------------------------------------------------------------------------

Rows = list[tuple[str, dict[str, Any]]]  # (task id, data) in dataset order
Sources = list[str]  # the generations behind the rows


def _sft_rows(store: Store, pool: _Pool, settings: CurationSettings, jury: Jury) -> tuple[Rows, Sources]:
    """The best accepted generation per task; a revision competes only where it beat its parent."""
    gens = pool.generations
    decision = latest_decisions(store, [g.id for g in gens])
    gens = pool.step("not accepted by the router (latest route)", "generations", gens,
                     lambda g: decision.get(g.id) == "accepted")
    parents = {g.parent_id for g in gens if g.parent_id}
    scores = jury_scores(store, sorted({g.id for g in gens} | parents), jury)

    def score(generation_id: str) -> float:
        return scores[generation_id].score if generation_id in scores else float("-inf")

    gens = pool.step("jury score below sft_min_score", "generations", gens,
                     lambda g: score(g.id) >= settings.sft_min_score)
    gens = pool.step("revision scored no higher than its parent", "generations", gens,
                     lambda g: g.role != "revision" or score(g.id) > score(g.parent_id or ""))
    gens = pool.step("length outside min_words..max_words", "generations", gens,
                     lambda g: _length_ok(g.text, settings))
    best = _best_per_task(gens, score)
    gens = pool.step("not the best of its task", "generations", gens, lambda g: best.get(g.task_id) is g)
    gens = _deduplicate(pool, sorted(gens, key=lambda g: (-score(g.id), g.id)), lambda g: g.text, settings, "rows")
    gens = _in_task_order(gens, pool.tasks)
    rows = [(g.task_id, {"messages": [_user(pool.tasks[g.task_id]), _assistant(g.text)]}) for g in gens]
    return rows, [g.id for g in gens]


def _dpo_rows(store: Store, pool: _Pool, settings: CurationSettings, jury: Jury) -> tuple[Rows, Sources]:
    """Per task, the best and the worst scored generation, when the jury puts them far enough apart."""
    scores = jury_scores(store, [g.id for g in pool.generations], jury)
    gens = pool.step(f"judged by fewer than {settings.min_judge_kinds} judge kinds (or unscored)", "generations",
                     pool.generations,
                     lambda g: g.id in scores and len(scores[g.id].judge_kinds) >= settings.min_judge_kinds)
    gens = pool.step("length outside min_words..max_words", "generations", gens,
                     lambda g: _length_ok(g.text, settings))
    by_task: dict[str, list[Generation]] = {}  # filled best first, so pairs come in order of their chosen's score
    for g in sorted(gens, key=lambda g: (-scores[g.id].score, g.id)):
        by_task.setdefault(g.task_id, []).append(g)
    pairs = [(group[0], group[-1]) for group in by_task.values() if len(group) > 1]
    pool.steps.append({"step": "pairs: best and worst of each task with two or more candidates", "unit": "pairs",
                       "dropped": 0, "left": len(pairs)})
    pairs = pool.step("jury margin below dpo_min_margin", "pairs", pairs,
                      lambda p: scores[p[0].id].score - scores[p[1].id].score >= settings.dpo_min_margin)
    verdicts = pairwise_verdicts(store, [g.id for pair in pairs for g in pair])
    pairs = pool.step("pairwise verdict flipped with the order shown or prefers the rejected", "pairs", pairs,
                      lambda p: _position_consistent(p[0].id, p[1].id, verdicts))
    pairs = _deduplicate(pool, pairs, lambda p: p[0].text, settings, "pairs")
    pairs = _in_task_order(pairs, pool.tasks, key=lambda p: p[0].task_id)
    rows = [(c.task_id, {"prompt": [_user(pool.tasks[c.task_id])], "chosen": [_assistant(c.text)],
                         "rejected": [_assistant(r.text)]}) for c, r in pairs]
    return rows, [g.id for pair in pairs for g in pair]


def _kd_rows(store: Store, pool: _Pool, settings: CurationSettings, jury: Jury) -> tuple[Rows, Sources]:
    """Teacher outputs that pass the score and length filters."""
    scores = jury_scores(store, [g.id for g in pool.generations], jury)
    gens = pool.step("jury score below kd_min_score (or unscored)", "generations", pool.generations,
                     lambda g: g.id in scores and scores[g.id].score >= settings.kd_min_score)
    gens = pool.step("length outside min_words..max_words", "generations", gens,
                     lambda g: _length_ok(g.text, settings))
    gens = _deduplicate(pool, sorted(gens, key=lambda g: (-scores[g.id].score, g.id)), lambda g: g.text,
                        settings, "rows")
    gens = _in_task_order(gens, pool.tasks)
    rows = [(g.task_id, {"messages": [_user(pool.tasks[g.task_id]), _assistant(g.text)]}) for g in gens]
    return rows, [g.id for g in gens]


def _user(task: Task) -> dict[str, str]:
    return {"role": "user", "content": document_prompt(task)}


def _assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def _best_per_task(gens: Iterable[Generation], score: Callable[[str], float]) -> dict[str, Generation]:
    best: dict[str, Generation] = {}
    for g in sorted(gens, key=lambda g: (-score(g.id), g.id)):
        best.setdefault(g.task_id, g)
    return best


def _in_task_order(items: list[T], tasks: dict[str, Task], key: Callable[[T], str] | None = None) -> list[T]:
    """Rows in the store's task order (qualname, id): stable however the candidates were ranked."""
    task_of = key or (lambda item: item.task_id)  # type: ignore[attr-defined]
    return sorted(items, key=lambda item: (tasks[task_of(item)].qualname, task_of(item)))


# -- routes and pairwise verdicts ----------------------------------------------------------------------------------


def latest_decisions(store: Store, generation_ids: Sequence[str]) -> dict[str, str]:
    """The router's latest decision per generation (a rerun that took in people's labels routes again)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in store.routes(generation_ids):
        current = latest.get(row["generation_id"])
        if current is None or (row["created_at"], row["id"]) > (current["created_at"], current["id"]):
            latest[row["generation_id"]] = row
    return {gid: row["decision"] for gid, row in latest.items()}


def pairwise_verdicts(store: Store, generation_ids: Sequence[str]) -> dict[frozenset[str], list[tuple[str, bool]]]:
    """Final pairwise verdicts per unordered pair: (the better generation's id or "tie", survived the swap)."""
    found: dict[frozenset[str], list[tuple[str, bool]]] = {}
    for rows in store.judgments_for(generation_ids, judge_kind=PAIRWISE).values():
        for row in rows:
            if row["order_shown"] is not None or row["status"] != "ok" or not row["generation_b_id"]:
                continue
            evidence = json.loads(row["evidence"]) if isinstance(row["evidence"], str) else row["evidence"] or {}
            winner = {"A": row["generation_id"], "B": row["generation_b_id"]}.get(row["verdict"], "tie")
            pair = frozenset((row["generation_id"], row["generation_b_id"]))
            found.setdefault(pair, []).append((winner, bool(evidence.get("consistent", row["verdict"] != "tie"))))
    return found


def _position_consistent(chosen: str, rejected: str, verdicts: dict[frozenset[str], list[tuple[str, bool]]]) -> bool:
    found = verdicts.get(frozenset((chosen, rejected)), [])
    return all(consistent and winner != rejected for winner, consistent in found)


# -- exact and near duplicates (MinHash LSH) -----------------------------------------------------------------------


def shingles(text: str, n: int = 3) -> list[bytes]:
    """Lower-cased token n-grams (words and punctuation marks), the sets MinHash compares."""
    tokens = _TOKEN.findall(text.lower())
    grams = {" ".join(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1))}
    return sorted(gram.encode("utf-8") for gram in grams)


def sketches(texts: Sequence[str], num_perm: int) -> list[MinHash]:
    return MinHash.bulk([shingles(text) for text in texts], num_perm=num_perm) if texts else []


def near_copies(tasks: Sequence[Task], held_out: Sequence[Task], settings: CurationSettings) -> set[str]:
    """Ids of `tasks` whose code equals, or is a near-duplicate of, a held-out task's code."""
    if not tasks or not held_out:
        return set()
    exact = {_normalised(t.code) for t in held_out}
    held = sketches([t.code for t in held_out], settings.num_perm)
    index = MinHashLSH(threshold=settings.near_duplicate_jaccard, num_perm=settings.num_perm)
    for n, sketch in enumerate(held):
        index.insert(n, sketch)
    found = set()
    for task, sketch in zip(tasks, sketches([t.code for t in tasks], settings.num_perm), strict=True):
        if _normalised(task.code) in exact or any(sketch.jaccard(held[n]) >= settings.near_duplicate_jaccard
                                                  for n in index.query(sketch)):
            found.add(task.id)
    return found


def _deduplicate(pool: _Pool, items: list[T], text: Callable[[T], str], settings: CurationSettings,
                 unit: str) -> list[T]:
    """Drop exact, then near-duplicate texts; `items` come best first, and the first of a group stays."""
    seen: set[str] = set()

    def first_time(item: T) -> bool:
        key = _normalised(text(item))
        if key in seen:
            return False
        seen.add(key)
        return True

    items = pool.step("exact duplicate text (whitespace and case aside)", unit, items, first_time)
    index = MinHashLSH(threshold=settings.near_duplicate_jaccard, num_perm=settings.num_perm)
    marks = sketches([text(item) for item in items], settings.num_perm)

    def unlike_kept(n: int) -> bool:
        if any(marks[n].jaccard(marks[k]) >= settings.near_duplicate_jaccard for k in index.query(marks[n])):
            return False
        index.insert(n, marks[n])
        return True

    kept = pool.step("near-duplicate text of a kept row (MinHash)", unit, list(range(len(items))), unlike_kept)
    return [items[n] for n in kept]


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


# -- storing -------------------------------------------------------------------------------------------------------


def judge_identities(store: Store, generation_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Who judged these generations: one entry per judge identity with its number of judgments."""
    counts: dict[tuple[Any, ...], int] = {}
    for rows in store.judgments_for(generation_ids).values():
        for row in rows:
            key = (row["judge_kind"], row["judge_model"], row["judge_prompt_hash"], row["judge_version"])
            counts[key] = counts.get(key, 0) + 1
    return [{"judge_kind": k, "judge_model": m, "judge_prompt_hash": p, "judge_version": v, "judgments": n}
            for (k, m, p, v), n in sorted(counts.items(), key=lambda item: tuple(str(x) for x in item[0]))]


def _save(store: Store, kind: str, settings: CurationSettings, jury: Jury, pool: _Pool, rows: Rows,
          sources: Sources) -> DatasetInfo:
    content_hash = content_id("dataset rows", rows)
    record = {"settings": settings.model_dump(mode="json"), "jury": jury.model_dump(mode="json"),
              "steps": pool.steps, "decontamination": {"held_out_tasks": pool.held_out_tasks,
                                                       "dropped_tasks": pool.contaminated},
              "position_consistency": "pairwise verdicts where stored, else the order-free pointwise jury",
              "judges": judge_identities(store, sources)}
    if not rows:
        return DatasetInfo(None, None, kind, None, 0, content_hash, record, "empty")
    dataset_id = content_id("dataset", kind, record["settings"], record["jury"], content_hash)
    stored = store.select("datasets", ids=[dataset_id])
    if stored:
        return info_of(stored[0], "unchanged")
    latest = store.select("datasets", kind=kind, order_by="version DESC", limit=1)
    version = latest[0]["version"] + 1 if latest else 1
    store.insert("dataset_rows", [{"id": content_id("dataset row", dataset_id, n), "dataset_id": dataset_id,
                                   "position": n, "task_id": task_id, "data": data}
                                  for n, (task_id, data) in enumerate(rows)])
    # The data set row goes in last: it marks the rows as complete.
    row = {"id": dataset_id, "name": f"{kind}-v{version}", "kind": kind, "version": version, "filter": record,
           "row_count": len(rows), "content_hash": content_hash}
    store.insert("datasets", [row])
    return info_of(store.select("datasets", ids=[dataset_id])[0], "new")


def info_of(row: dict[str, Any], status: Literal["new", "unchanged", "empty"]) -> DatasetInfo:
    """A stored `datasets` row as a DatasetInfo."""
    record = json.loads(row["filter"]) if isinstance(row["filter"], str) else row["filter"] or {}
    return DatasetInfo(row["id"], row["name"], row["kind"], row["version"], row["row_count"], row["content_hash"],
                       record, status)
