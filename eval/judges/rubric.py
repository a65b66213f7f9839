"""The LLM rubric judge: pointwise, one criterion per call, rationale before an integer score 1-5.

The reply is JSON (`{"rationale": str, "score": int}`), enforced by a schema where the backend can;
otherwise it is parsed, repaired and retried once with a stricter prompt (see `llm.ask`). A reply that
still cannot be read becomes a judgment with status "failed", no score and its raw text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docflywheel.eval import prompts
from docflywheel.eval.judges.llm import SCORE_SCHEMA, JudgeIdentity, JudgeRun, ask, parse_score
from docflywheel.eval.rubric import Criterion, Rubric, load_rubric
from docflywheel.models.base import Backend, GenerationRequest
from docflywheel.records import Generation, Task, content_id
from docflywheel.store import Store

JUDGE_KIND = "rubric"
VERSION = "2"  # 2: the rationale is bounded in the JSON schema
TEMPLATE = "rubric"
MAX_NEW_TOKENS = 160


def identity(backend: Backend) -> JudgeIdentity:
    return JudgeIdentity.of(backend, JUDGE_KIND, TEMPLATE, VERSION)


def judgment_id(generation_id: str, judge: JudgeIdentity, criterion: Criterion) -> str:
    """Content id: the same generation, judge and criterion (definition included) give the same row."""
    return content_id("judgment", generation_id, judge.kind, judge.model, judge.prompt_hash, judge.version,
                      criterion.model_dump())


def build_request(task: Task, generation: Generation, criterion: Criterion, *, strict: bool = False,
                  json_schema: bool = False, max_new_tokens: int = MAX_NEW_TOKENS) -> GenerationRequest:
    """The chat request asking for one criterion's score; `strict` is the retry after an unreadable reply."""
    text = prompts.render(TEMPLATE, language=task.language, kind=task.kind, qualname=task.qualname,
                          code=prompts.clip(task.code, prompts.MAX_CODE_CHARS).rstrip(),
                          documentation=prompts.clip(generation.text, prompts.MAX_DOC_CHARS).strip(),
                          criterion=criterion, strict=strict)
    return GenerationRequest(messages=[{"role": "user", "content": text}], max_new_tokens=max_new_tokens,
                             temperature=0.0, json_schema=SCORE_SCHEMA if json_schema else None)


def judge(backend: Backend, items: Sequence[tuple[Task, Generation]], *, rubric: Rubric | None = None,
          criteria: Sequence[str] | None = None, iteration: int | None = None,
          skip: set[str] | frozenset[str] = frozenset(), max_new_tokens: int = MAX_NEW_TOKENS) -> JudgeRun:
    """Judgment rows for every (generation, criterion), all asked of the backend in one batch.

    criteria: rubric criterion ids (all of them when None). skip: judgment ids not to ask again.
    """
    chosen = (rubric or load_rubric()).select(list(criteria) if criteria is not None else None)
    judge_id = identity(backend)
    run = JudgeRun()
    todo: list[tuple[str, Task, Generation, Criterion]] = []
    for task, generation in items:
        if generation.task_id != task.id:
            raise ValueError(f"generation {generation.id} belongs to task {generation.task_id}, not {task.id}")
        for criterion in chosen:
            row_id = judgment_id(generation.id, judge_id, criterion)  # type: ignore[arg-type]
            if row_id in skip:
                run.skipped += 1
            else:
                todo.append((row_id, task, generation, criterion))
    schema = backend.supports_json_schema
    answers = ask(backend,
                  [build_request(t, g, c, json_schema=schema, max_new_tokens=max_new_tokens) for _, t, g, c in todo],
                  [build_request(t, g, c, strict=True, json_schema=schema, max_new_tokens=max_new_tokens)
                   for _, t, g, c in todo],
                  parse_score)
    for (row_id, _, generation, criterion), answer in zip(todo, answers, strict=True):
        run.count(answer)
        run.rows.append({
            "id": row_id, "generation_id": generation.id, **judge_id.columns(), "criterion": criterion.id,
            "score": float(answer.reply.score) if answer.reply.score is not None else None,
            "rationale": answer.reply.rationale or None, "evidence": answer.evidence(),
            "status": "ok" if answer.reply.ok else "failed", "raw": answer.reply.raw, "iteration": iteration,
        })
    return run


def judge_and_store(store: Store, backend: Backend, items: Sequence[tuple[Task, Generation]], *,
                    rubric: Rubric | None = None, criteria: Sequence[str] | None = None,
                    iteration: int | None = None, max_new_tokens: int = MAX_NEW_TOKENS) -> JudgeRun:
    """`judge` the items whose judgments are not stored yet, and store the new rows."""
    rubric = rubric or load_rubric()
    chosen = rubric.select(list(criteria) if criteria is not None else None)
    judge_id = identity(backend)
    wanted = [judgment_id(g.id, judge_id, c) for _, g in items for c in chosen]  # type: ignore[arg-type]
    done = store.existing_ids("judgments", wanted)
    run = judge(backend, items, rubric=rubric, criteria=[c.id for c in chosen], iteration=iteration,
                skip=done, max_new_tokens=max_new_tokens)
    run.stored = store.insert("judgments", run.rows)
    return run
