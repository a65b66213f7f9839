"""Curation on a real store: generations judged by the real jury and routed by the real router."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from docflywheel.agents.prompts import document_prompt
from docflywheel.agents.run import run_agents
from docflywheel.config import RouteConfig, load_config
from docflywheel.errors import InputError
from docflywheel.eval.judges import pairwise
from docflywheel.models.base import Completion, GenerationRequest, ModelSpec
from docflywheel.store import Store
from docflywheel.tasks import extract_tasks
from docflywheel.training.curate import CurationSettings, DatasetInfo, curate, curate_all

STRICT = RouteConfig(accept=4.9)  # a router that sends even GOOD (about 4.7) to review


def _rows(store: Store, info: DatasetInfo) -> list[dict]:
    rows = store.select("dataset_rows", dataset_id=info.id, order_by="position")
    return [{**row, "data": json.loads(row["data"])} for row in rows]


def _dropped(info: DatasetInfo, step: str) -> int:
    return next(s["dropped"] for s in info.filter["steps"] if s["step"].startswith(step))


def test_sft_keeps_the_best_accepted_generation_per_task_and_a_revision_only_where_it_beat_its_parent(
        store: Store, kit: Any) -> None:
    a, b, c, d = (kit.task(name) for name in ("scale_a", "scale_b", "scale_c", "scale_d"))
    a_student, b_student = kit.write(store, [kit.Doc(a, kit.OK), kit.Doc(b, kit.GOOD, thresholds=STRICT)])
    kit.write(store, [kit.Doc(a, kit.GOOD, role="revision", parent=a_student),  # scores above its parent: it wins
                      kit.Doc(b, kit.OK, role="revision", parent=b_student),  # accepted, but scores below its parent
                      kit.Doc(c, kit.BAD), kit.Doc(d, kit.BAD), kit.Doc(d, kit.OK)])

    info = curate(store, "sft")

    rows = _rows(store, info)
    assert info.status == "new" and info.row_count == len(rows) == 2
    assert [(r["task_id"], r["data"]) for r in rows] == [
        (task.id, {"messages": [{"role": "user", "content": document_prompt(task)},
                                {"role": "assistant", "content": text}]}) for task, text in ((a, kit.GOOD), (d, kit.OK))]
    # b's parent went to review and c's and d's BAD were rejected: 3 of 7 never accepted.
    assert _dropped(info, "not accepted") == 3
    assert _dropped(info, "revision scored no higher") == 1
    assert _dropped(info, "not the best of its task") == 1  # a's student
    assert info.filter["settings"] == CurationSettings().model_dump(mode="json")
    assert {j["judge_kind"] for j in info.filter["judges"]} == {"verifier", "reference"}


def test_the_latest_route_decides(store: Store, kit: Any) -> None:
    promoted, demoted = kit.task("scale_promoted"), kit.task("scale_demoted")
    first, second = kit.write(store, [kit.Doc(promoted, kit.GOOD, thresholds=STRICT), kit.Doc(demoted, kit.OK)])
    assert [r["task_id"] for r in _rows(store, curate(store, "sft"))] == [demoted.id]
    # The same two generations routed again, each by the other router.
    kit.write(store, [kit.Doc(promoted, kit.GOOD, sample=first.sample_index),
                      kit.Doc(demoted, kit.OK, sample=second.sample_index, thresholds=STRICT)])
    assert [r["task_id"] for r in _rows(store, curate(store, "sft"))] == [promoted.id]


class PairwiseScript:
    """The model boundary of the pairwise judge: replies with given verdicts."""

    spec = ModelSpec("hf", "scripted")
    supports_json_schema = False

    def __init__(self, verdicts: Sequence[str]) -> None:
        self.replies = [json.dumps({"rationale": "compared", "verdict": v}) for v in verdicts]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        return [Completion(self.replies.pop(0)) for _ in requests]

    def close(self) -> None:
        pass


def _by_task(store: Store, info: DatasetInfo) -> dict[str, dict]:
    return {row["task_id"]: row["data"] for row in _rows(store, info)}


def test_dpo_pairs_best_and_worst_above_the_margin_judged_by_two_judge_kinds(store: Store, kit: Any) -> None:
    near, far, unref = kit.task("pair_near"), kit.task("pair_far"), kit.task("pair_unref", reference=False)
    kit.write(store, [kit.Doc(near, kit.GOOD), kit.Doc(near, kit.OK),  # margin about 0.6
                  kit.Doc(far, kit.FAIR), kit.Doc(far, kit.OK, role="revision"), kit.Doc(far, kit.BAD),  # best OK, worst BAD
                  kit.Doc(unref, kit.FAIR), kit.Doc(unref, kit.BAD)])  # no reference: only the verifiers judged these

    pairs = _by_task(store, curate(store, "dpo"))

    prompt = [{"role": "user", "content": document_prompt(near)}]
    assert pairs[near.id] == {"prompt": prompt, "chosen": [{"role": "assistant", "content": kit.GOOD}],
                              "rejected": [{"role": "assistant", "content": kit.OK}]}
    assert (pairs[far.id]["chosen"][0]["content"], pairs[far.id]["rejected"][0]["content"]) == (kit.OK, kit.BAD)
    assert set(pairs) == {near.id, far.id}

    wide = curate(store, "dpo", CurationSettings(dpo_min_margin=1.0))
    assert set(_by_task(store, wide)) == {far.id} and _dropped(wide, "jury margin") == 1
    one_kind = curate(store, "dpo", CurationSettings(min_judge_kinds=1))
    assert set(_by_task(store, one_kind)) == {near.id, far.id, unref.id}
    assert _dropped(wide, "judged by fewer than 2 judge kinds") == 2


def test_dpo_drops_a_pair_whose_pairwise_verdict_flips_or_prefers_the_rejected(store: Store, kit: Any) -> None:
    kept_task, flipped_task = kit.task("pair_kept"), kit.task("pair_flipped")
    good, ok = kit.write(store, [kit.Doc(kept_task, kit.GOOD), kit.Doc(kept_task, kit.OK)])
    ok2, bad = kit.write(store, [kit.Doc(flipped_task, kit.OK), kit.Doc(flipped_task, kit.BAD)])
    # Stored as (rejected, chosen): "B" in order ab and "A" in order ba both prefer the chosen side.
    pairwise.judge_and_store(store, PairwiseScript(["B", "A"]), [(kept_task, ok, good)], criteria=["fluency"])
    pairwise.judge_and_store(store, PairwiseScript(["A", "A"]), [(flipped_task, ok2, bad)], criteria=["fluency"])

    info = curate(store, "dpo")
    assert set(_by_task(store, info)) == {kept_task.id}
    assert _dropped(info, "pairwise verdict flipped") == 1
    assert {j["judge_kind"] for j in info.filter["judges"]} == {"verifier", "reference", "pairwise"}

    # A verdict that survives the swap but prefers the jury's rejected side drops the pair too.
    pairwise.judge_and_store(store, PairwiseScript(["A", "B"]), [(kept_task, ok, good)], criteria=["structure"])
    assert curate(store, "dpo").status == "empty"


def test_exact_and_near_duplicate_documents_are_removed_keeping_the_best(store: Store, kit: Any) -> None:
    tasks = [kit.task(f"dup_{n}") for n in range(4)]
    near = kit.GOOD.replace("horizontal", "lateral")  # one word changed: shingle Jaccard about 0.87
    same = kit.GOOD.replace(" of the point.", "  of the point. ")  # differs only in whitespace
    kit.write(store, [kit.Doc(tasks[0], kit.GOOD), kit.Doc(tasks[1], near), kit.Doc(tasks[2], same), kit.Doc(tasks[3], kit.OK)])

    info = curate(store, "sft")

    texts = [row["data"]["messages"][1]["content"] for row in _rows(store, info)]
    assert len(texts) == 2 and kit.OK in texts and len({kit.GOOD, near, same} & set(texts)) == 1
    assert _dropped(info, "exact duplicate") == 1 and _dropped(info, "near-duplicate") == 1
    assert curate(store, "sft", CurationSettings(near_duplicate_jaccard=0.95)).row_count == 3


BODY = """    scaled_x = x * factor
    scaled_y = y * factor
    if factor < 0:
        scaled_x, scaled_y = -scaled_x, -scaled_y
        flipped = True
    else:
        flipped = False
    result = (scaled_x, scaled_y)
    return result
"""


def test_no_row_comes_from_a_held_out_task_or_a_near_copy_of_a_test_tasks_code(store: Store, kit: Any) -> None:
    test_task = kit.task("scale_point", "test", body=BODY)
    copy = kit.task("stretch_point", body=BODY)  # the test task's code under another name
    clean, dev = kit.task("scale_clean"), kit.task("scale_dev", "dev")
    kit.write(store, [kit.Doc(test_task, kit.GOOD), kit.Doc(copy, kit.GOOD), kit.Doc(clean, kit.OK), kit.Doc(dev, kit.GOOD)])

    infos = curate_all(store, CurationSettings(min_judge_kinds=1))

    sft = infos[0]
    assert [r["task_id"] for r in _rows(store, sft)] == [clean.id]
    assert sft.filter["decontamination"] == {"held_out_tasks": 2, "dropped_tasks": [copy.id]}
    assert _dropped(sft, "task is a near copy") == 1
    assert all(row["task_id"] == clean.id for info in infos if info.id for row in _rows(store, info))
    loose = curate(store, "sft", CurationSettings(near_duplicate_jaccard=0.95))
    assert loose.filter["decontamination"]["dropped_tasks"] == []  # the copy is about 0.91 alike


def test_kd_takes_teacher_outputs_that_pass_the_score_and_length_filters(store: Store, kit: Any) -> None:
    tasks = [kit.task(f"teach_{n}") for n in range(3)]
    kit.write(store, [kit.Doc(tasks[0], kit.GOOD, role="teacher"), kit.Doc(tasks[1], kit.BAD, role="teacher"),
                  kit.Doc(tasks[2], kit.OK, role="teacher"), kit.Doc(tasks[2], kit.GOOD)])

    assert set(_by_task(store, curate(store, "kd"))) == {tasks[0].id, tasks[2].id}
    strict = curate(store, "kd", CurationSettings(min_words=30))  # GOOD has 39 words, OK 27
    assert [r["data"]["messages"][1]["content"] for r in _rows(store, strict)] == [kit.GOOD]
    assert _dropped(strict, "jury score below kd_min_score") == 1 and _dropped(strict, "length") == 1


def test_curating_again_is_a_no_op_and_versions_count_up_per_kind(store: Store, kit: Any) -> None:
    first_task, second_task = kit.task("ver_a"), kit.task("ver_b")
    kit.write(store, [kit.Doc(first_task, kit.GOOD, iteration=1), kit.Doc(first_task, kit.BAD, iteration=1)])
    first = curate(store, "sft")
    counts = store.counts()
    again = curate(store, "sft")
    assert (first.status, again.status, again.id, again.name) == ("new", "unchanged", first.id, "sft-v1")
    assert store.counts() == counts

    kit.write(store, [kit.Doc(second_task, kit.OK, iteration=2)])
    second = curate(store, "sft")
    assert (second.status, second.version, second.name, second.row_count) == ("new", 2, "sft-v2", 2)
    assert curate(store, "dpo").name == "dpo-v1"
    only_first = curate(store, "sft", iteration=1)  # the same rows as v1 under another filter: a new set
    assert (only_first.name, only_first.content_hash) == ("sft-v3", first.content_hash)
    assert only_first.filter["settings"]["iterations"] == [1]
    assert curate(store, "sft", iteration=1).status == "unchanged"


def test_bad_kinds_and_settings_are_refused() -> None:
    with pytest.raises(InputError, match="unknown data set kind 'rlhf': choose sft, dpo or kd"):
        curate(Store("unused.duckdb"), "rlhf")
    with pytest.raises(ValidationError, match="held_out must include test"):
        CurationSettings(held_out=["dev"])
    with pytest.raises(ValidationError, match="min_words"):
        CurationSettings(min_words=50, max_words=10)
    with pytest.raises(ValidationError, match="splits"):
        CurationSettings(splits=["test"])  # type: ignore[list-item]


def test_curation_reads_a_real_agents_run(store: Store, micro_model: Path, tmp_path: Path) -> None:
    store.add_tasks(extract_tasks("textwrap"))
    config = load_config(None, {"store.path": str(store.path), "generation.max_new_tokens": 24,
                                "models.cache_dir": str(tmp_path)})
    run = run_agents(store, config, split="all", max_tasks=6, model=f"hf:{micro_model}", samples=2,
                     show_progress=False)  # the first 6 tasks: 5 train, 1 test (textwrap.TextWrapper)

    sft, dpo, kd = curate_all(store, CurationSettings(min_words=1, dpo_min_margin=0.01))

    tasks = {t.id: t for t in store.tasks()}
    mine = [g for g in store.generations() if tasks[g.task_id].split == "train" and g.role != "teacher"]
    assert run.revisions > 0 and sft.filter["steps"][0]["left"] == dpo.filter["steps"][0]["left"] == len(mine)
    assert kd.status == "empty" and kd.filter["steps"][0]["left"] == 0  # no teacher in this run
    texts = {(g.task_id, g.text) for g in mine}
    pairs = _rows(store, dpo)
    assert len(pairs) > 0
    for row in pairs:
        task = tasks[row["task_id"]]
        assert task.split == "train" and row["data"]["prompt"][0]["content"] == document_prompt(task)
        assert {(task.id, row["data"][side][0]["content"]) for side in ("chosen", "rejected")} <= texts
