"""Malformed judge replies: what a broken or hostile model could answer, fed through the real parsing and storing.

Data for tests/reliability/test_model_replies.py and bench/reliability.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from docflywheel.models import Completion, GenerationRequest, ModelSpec

# Each is unreadable as a score and as a verdict: the judge must store it as a failed row with its raw text.
MALFORMED: dict[str, str | Completion] = {
    "empty": "",
    "whitespace": " \n\t ",
    "prose": "The documentation reads well and I would rate it quite highly overall.",
    "wrong keys": '{"rating": "good", "reason": "fine"}',
    "array": '[4, "A"]',
    "score out of range high": '{"rationale": "Great.", "score": 7, "verdict": "C"}',
    "score out of range low": '{"rationale": "Bad.", "score": 0, "verdict": "AB"}',
    "negative": '{"rationale": "Bad.", "score": -3, "verdict": -1}',
    "fraction": '{"rationale": "Hm.", "score": 3.5, "verdict": 0.5}',
    "NaN": '{"rationale": "?", "score": NaN, "verdict": NaN}',
    "infinity": '{"rationale": "?", "score": 1e999, "verdict": Infinity}',
    "boolean": '{"rationale": "?", "score": true, "verdict": true}',
    "null": '{"rationale": null, "score": null, "verdict": null}',
    "nested": '{"rationale": "x", "score": {"value": 4}, "verdict": {"winner": "A"}}',
    "truncated": '{"rationale": "The documentation covers the parameters and',
    "integer of 5000 digits": '{"score": ' + "9" * 5000 + ', "verdict": ' + "9" * 5000 + "}",
    "nested 100k deep": '{"score": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "100k open braces": "{" * 100_000,
    "binary-ish": "\x00\x01\x02\ufffd\ufffe\x7f" * 1000,
    "lone surrogate": '{"rationale": "\ud800 broken", "score": "\udc00", "verdict": "\udfff"}',
    "huge (4 MB)": "This is fine. " * 300_000,
    "backend error": Completion("", finish_reason="error", error="connection reset by peer"),
}


class ScriptedBackend:
    """The model boundary: answers every request with the same reply (the retry too)."""

    supports_json_schema = False

    def __init__(self, reply: str | Completion) -> None:
        self.spec = ModelSpec("hf", "scripted")
        self.reply = reply if isinstance(reply, Completion) else Completion(reply)
        self.calls = 0

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.calls += len(requests)
        return [self.reply for _ in requests]

    def close(self) -> None:
        pass
