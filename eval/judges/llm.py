"""What the LLM judges share: their identity, asking with one stricter retry, and reading the reply.

A reply is read as JSON first, then repaired (the first JSON object, `Score: 4`); one that still cannot be
read is never None but a `Reply` with `error` set, which the judge stores as a failed judgment with its raw text.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from docflywheel.eval import prompts
from docflywheel.models.base import Backend, Completion, GenerationRequest, without_lone_surrogates

# A bound on the rationale lets constrained decoding close the JSON before the token limit cuts it (about 90
# tokens of English at 3.4 characters a token, under the judges' 128-160 new tokens).
RATIONALE_CHARS = 300
SCORE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"rationale": {"type": "string", "maxLength": RATIONALE_CHARS},
                   "score": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["rationale", "score"],
    "additionalProperties": False,
}
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"rationale": {"type": "string", "maxLength": RATIONALE_CHARS},
                   "verdict": {"type": "string", "enum": ["A", "B", "tie"]}},
    "required": ["rationale", "verdict"],
    "additionalProperties": False,
}

_SCORE_TEXT = re.compile(r"\bscore\b\W{0,4}(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_VERDICT_TEXT = re.compile(r"\bverdict\b\W{0,4}(A|B|tie)\b|\[\[(A|B|tie)\]\]", re.IGNORECASE)
_MAX_OBJECT_STARTS = 64


@dataclass(frozen=True)
class JudgeIdentity:
    """Who judged: stored with every judgment, and part of its id."""

    kind: str
    model: str
    prompt_hash: str
    version: str

    @classmethod
    def of(cls, backend: Backend, kind: str, template: str, version: str) -> JudgeIdentity:
        """The identity of a judge of `kind` asking `backend` with the prompt file `template`."""
        return cls(kind, str(backend.spec), prompts.template_hash(template), version)

    def columns(self) -> dict[str, str]:
        return {"judge_kind": self.kind, "judge_model": self.model,
                "judge_prompt_hash": self.prompt_hash, "judge_version": self.version}


@dataclass
class JudgeRun:
    """The rows a judge call made, and how many replies failed, needed repair or a retry."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0
    repaired: int = 0
    retried: int = 0
    skipped: int = 0
    stored: int = 0

    def count(self, answer: Answer) -> None:
        self.failed += not answer.reply.ok
        self.repaired += answer.reply.ok and answer.reply.repaired
        self.retried += answer.attempts > 1


@dataclass(frozen=True)
class Reply:
    """What a reply said: a score or a verdict with its rationale, or why it could not be read."""

    raw: str
    score: int | None = None
    verdict: str | None = None
    rationale: str = ""
    repaired: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Answer:
    """The reply a judgment is made from, with every raw reply the model gave on the way."""

    reply: Reply
    replies: list[str] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return len(self.replies)

    def evidence(self) -> dict[str, Any]:
        if self.reply.ok:
            return {"attempts": self.attempts, "repaired": self.reply.repaired}
        return {"attempts": self.attempts, "error": self.reply.error, "replies": self.replies}


def ask(backend: Backend, requests: Sequence[GenerationRequest], retries: Sequence[GenerationRequest],
        parse: Callable[[Completion], Reply]) -> list[Answer]:
    """Send `requests` in one batch, then the stricter `retries` of those that did not parse, in one more."""
    if len(requests) != len(retries):
        raise ValueError("each request needs its stricter retry")
    if not requests:
        return []
    completions = backend.generate(list(requests))
    replies = [parse(completion) for completion in completions]
    answers = [Answer(reply, [reply.raw]) for reply in replies]
    again = [i for i, reply in enumerate(replies) if not reply.ok]
    if again:
        for i, completion in zip(again, backend.generate([retries[i] for i in again]), strict=True):
            reply = parse(completion)
            answers[i] = Answer(reply, [*answers[i].replies, reply.raw])
    return answers


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text` (the whole text, a fenced block or an object amid prose)."""
    decoder = json.JSONDecoder()
    # A bounded number of tries: each failed one costs O(position), so a reply of 100k braces would take minutes.
    for start in [m.start() for m in itertools.islice(re.finditer(r"\{", text), _MAX_OBJECT_STARTS)]:
        try:
            value, _ = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):  # bad JSON, an integer over 4300 digits, nesting too deep
            continue
        if isinstance(value, dict):
            return value
    return None


def parse_score(completion: Completion | str, low: int = 1, high: int = 5) -> Reply:
    """A `{"rationale": str, "score": int}` reply, repaired where the score can still be read unambiguously."""
    raw, failure = _raw(completion)
    if failure:
        return Reply(raw, error=failure)
    obj = first_json_object(raw)
    rationale, value, repaired = "", None, not _plain_json(raw)
    if obj is not None and "score" in obj:
        value, rationale = obj["score"], _text(obj.get("rationale"))
        if isinstance(value, str):
            value, repaired = value.strip(), True
    else:
        found = _SCORE_TEXT.search(raw)
        if found is None:
            what = "a JSON object without 'score'" if obj is not None else "no JSON object and no 'score: N'"
            return Reply(raw, error=f"unreadable reply: {what}")
        value, repaired = found.group(1), True
        rationale = _text(obj.get("rationale")) if obj else raw[:found.start()].strip()
    score = _integer(value)
    if score is None:
        return Reply(raw, rationale=rationale, error=f"score {value!r} is not a whole number")
    if not low <= score <= high:
        return Reply(raw, rationale=rationale, error=f"score {score} is outside {low}-{high}")
    return Reply(raw, score=score, rationale=rationale, repaired=repaired or not isinstance(value, int))


def parse_verdict(completion: Completion | str) -> Reply:
    """A `{"rationale": str, "verdict": "A"|"B"|"tie"}` reply, repaired from `Verdict: A` or `[[A]]`."""
    raw, failure = _raw(completion)
    if failure:
        return Reply(raw, error=failure)
    obj = first_json_object(raw)
    rationale, value, repaired = "", None, not _plain_json(raw)
    if obj is not None and "verdict" in obj:
        value, rationale = obj["verdict"], _text(obj.get("rationale"))
    else:
        found = _VERDICT_TEXT.search(raw)
        if found is None:
            what = "a JSON object without 'verdict'" if obj is not None else "no JSON object and no 'verdict: A|B|tie'"
            return Reply(raw, error=f"unreadable reply: {what}")
        value, repaired = found.group(1) or found.group(2), True
        rationale = _text(obj.get("rationale")) if obj else raw[:found.start()].strip()
    verdict = _verdict(value)
    if verdict is None:
        return Reply(raw, rationale=rationale, error=f"verdict {value!r} is not A, B or tie")
    return Reply(raw, verdict=verdict, rationale=rationale, repaired=repaired or verdict != value)


def _raw(completion: Completion | str) -> tuple[str, str | None]:
    if isinstance(completion, str):
        raw, failure = completion, None
    else:
        raw = completion.text
        failure = None
        if completion.finish_reason == "error":
            failure = f"backend error: {completion.error or 'no reason given'}"
    if failure is None and not raw.strip():
        failure = "empty reply"
    return without_lone_surrogates(raw), failure


def _plain_json(raw: str) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return False


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def _verdict(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = value.strip().strip("\"'[]().").strip()
    return {"a": "A", "b": "B", "tie": "tie"}.get(cleaned.lower())


def _text(value: Any) -> str:
    # The reply's own JSON may escape a lone surrogate ("\\ud800"), which decoding brings back.
    if isinstance(value, str):
        return without_lone_surrogates(value.strip())
    return "" if value is None else json.dumps(value)
