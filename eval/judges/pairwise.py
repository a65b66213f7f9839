"""The LLM pairwise judge: which of two documentations is better on a criterion, asked in both orders.

Per pair and criterion it stores three rows: the raw verdicts of the two orders (order_shown "ab" and
"ba", each verdict in the shown order's own terms: "A" is whichever was shown first), and the final
verdict (order_shown NULL) in the pair's terms: "A" when `generation_id` is better, "B" when
`generation_b_id` is. The final verdict stands only when it survives the swap; otherwise it is "tie".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docflywheel.eval import prompts
from docflywheel.eval.judges.llm import VERDICT_SCHEMA, Answer, JudgeIdentity, JudgeRun, ask, parse_verdict
from docflywheel.eval.rubric import Criterion, Rubric, load_rubric
from docflywheel.models.base import Backend, GenerationRequest
from docflywheel.records import Generation, Task, content_id
from docflywheel.store import Store

JUDGE_KIND = "pairwise"
VERSION = "2"  # 2: the rationale is bounded in the JSON schema
TEMPLATE = "pairwise"
MAX_NEW_TOKENS = 128
ORDERS = ("ab", "ba")
SWAPPED = {"A": "B", "B": "A", "tie": "tie"}

Pair = tuple[Task, Generation, Generation]


def identity(backend: Backend) -> JudgeIdentity:
    return JudgeIdentity.of(backend, JUDGE_KIND, TEMPLATE, VERSION)


def judgment_id(a: Generation, b: Generation, judge: JudgeIdentity, criterion: Criterion, order: str | None) -> str:
    return content_id("judgment", a.id, b.id, judge.kind, judge.model, judge.prompt_hash, judge.version,
                      criterion.model_dump(), order)


def final_verdict(ab: str, ba: str) -> str:
    """The pair's verdict from the two raw ones (each in its shown order's terms): kept only if the swap agrees."""
    return ab if ab == SWAPPED[ba] else "tie"


def build_request(task: Task, first: Generation, second: Generation, criterion: Criterion, *,
                  strict: bool = False, json_schema: bool = False,
                  max_new_tokens: int = MAX_NEW_TOKENS) -> GenerationRequest:
    """The chat request showing `first` as A and `second` as B."""
    half = prompts.MAX_DOC_CHARS // 2
    text = prompts.render(TEMPLATE, language=task.language, kind=task.kind, qualname=task.qualname,
                          code=prompts.clip(task.code, prompts.MAX_CODE_CHARS).rstrip(),
                          first=prompts.clip(first.text, half).strip(), second=prompts.clip(second.text, half).strip(),
                          criterion=criterion, strict=strict)
    return GenerationRequest(messages=[{"role": "user", "content": text}], max_new_tokens=max_new_tokens,
                             temperature=0.0, json_schema=VERDICT_SCHEMA if json_schema else None)


def judge(backend: Backend, pairs: Sequence[Pair], *, rubric: Rubric | None = None,
          criteria: Sequence[str] | None = None, iteration: int | None = None,
          skip: set[str] | frozenset[str] = frozenset(), max_new_tokens: int = MAX_NEW_TOKENS) -> JudgeRun:
    """Rows for every (pair, criterion): both orders asked in one batch, then the final verdict.

    criteria: rubric criterion ids (all when None). skip: final-verdict ids already stored.
    """
    chosen = (rubric or load_rubric()).select(list(criteria) if criteria is not None else None)
    judge_id = identity(backend)
    run = JudgeRun()
    todo: list[tuple[Task, Generation, Generation, Criterion]] = []
    for task, a, b in pairs:
        if a.task_id != task.id or b.task_id != task.id:
            raise ValueError(f"pair ({a.id}, {b.id}) does not belong to task {task.id}")
        for criterion in chosen:
            if judgment_id(a, b, judge_id, criterion, None) in skip:
                run.skipped += 1
            else:
                todo.append((task, a, b, criterion))
    schema = backend.supports_json_schema
    shown = [(t, first, second, c) for t, a, b, c in todo for first, second in ((a, b), (b, a))]
    answers = ask(backend,
                  [build_request(t, x, y, c, json_schema=schema, max_new_tokens=max_new_tokens)
                   for t, x, y, c in shown],
                  [build_request(t, x, y, c, strict=True, json_schema=schema, max_new_tokens=max_new_tokens)
                   for t, x, y, c in shown],
                  parse_verdict)
    for n, (_, a, b, criterion) in enumerate(todo):
        ab, ba = answers[2 * n], answers[2 * n + 1]
        base = {"generation_id": a.id, "generation_b_id": b.id, **judge_id.columns(), "criterion": criterion.id,
                "score": None, "iteration": iteration}
        for order, answer in zip(ORDERS, (ab, ba), strict=True):
            run.count(answer)
            run.rows.append({**base, **_answer_columns(answer), "order_shown": order,
                             "id": judgment_id(a, b, judge_id, criterion, order)})
        run.rows.append({**base, **_final_columns(ab, ba), "order_shown": None,
                         "id": judgment_id(a, b, judge_id, criterion, None)})
    return run


def judge_and_store(store: Store, backend: Backend, pairs: Sequence[Pair], *, rubric: Rubric | None = None,
                    criteria: Sequence[str] | None = None, iteration: int | None = None,
                    max_new_tokens: int = MAX_NEW_TOKENS) -> JudgeRun:
    """`judge` the pairs whose final verdicts are not stored yet, and store the new rows."""
    rubric = rubric or load_rubric()
    chosen = rubric.select(list(criteria) if criteria is not None else None)
    judge_id = identity(backend)
    wanted = [judgment_id(a, b, judge_id, c, None) for _, a, b in pairs for c in chosen]
    run = judge(backend, pairs, rubric=rubric, criteria=[c.id for c in chosen], iteration=iteration,
                skip=store.existing_ids("judgments", wanted), max_new_tokens=max_new_tokens)
    run.stored = store.insert("judgments", run.rows)
    return run


def _answer_columns(answer: Answer) -> dict[str, Any]:
    reply = answer.reply
    return {"verdict": reply.verdict, "rationale": reply.rationale or None, "evidence": answer.evidence(),
            "status": "ok" if reply.ok else "failed", "raw": reply.raw}


def _final_columns(ab: Answer, ba: Answer) -> dict[str, Any]:
    if not (ab.reply.ok and ba.reply.ok):
        errors = {order: a.reply.error for order, a in zip(ORDERS, (ab, ba), strict=True) if not a.reply.ok}
        return {"verdict": None, "rationale": None, "status": "failed", "raw": None,
                "evidence": {"error": "no verdict in " + " and ".join(errors), "errors": errors}}
    ab_v, ba_v = ab.reply.verdict, ba.reply.verdict
    verdict = final_verdict(ab_v, ba_v)  # type: ignore[arg-type]
    return {"verdict": verdict, "rationale": ab.reply.rationale or None, "status": "ok", "raw": None,
            "evidence": {"ab": ab_v, "ba": ba_v, "consistent": ab_v == SWAPPED[ba_v]}}  # type: ignore[index]
