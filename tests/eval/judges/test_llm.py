from __future__ import annotations

import pytest

from docflywheel.eval.judges.llm import first_json_object, parse_score, parse_verdict
from docflywheel.models import Completion


@pytest.mark.parametrize(("text", "verdict"), [
    ('{"rationale": "x", "verdict": "B"}', "B"),
    ('{"rationale": "x", "verdict": "Tie"}', "tie"),
    ("A is shorter. Verdict: a", "A"),
    ("Both say the same. [[tie]]", "tie"),
])
def test_verdicts_are_read_and_normalised(text: str, verdict: str) -> None:
    assert parse_verdict(text).verdict == verdict


@pytest.mark.parametrize("text", ["", "   \n", "A and B are both fine", '{"verdict": "C", "rationale": "x"}',
                                  '{"winner": "A"}'])
def test_unreadable_verdicts_are_errors_not_none(text: str) -> None:
    reply = parse_verdict(text)
    assert not reply.ok and reply.error and reply.verdict is None and reply.raw == text


def test_plain_json_is_not_counted_as_repaired_and_backend_errors_keep_their_reason() -> None:
    assert parse_score('{"rationale": "x", "score": 2}').repaired is False
    assert parse_score('{"rationale": "x", "score": true}').error
    failed = parse_score(Completion("", finish_reason="error", error="timed out"))
    assert failed.error == "backend error: timed out"


def test_first_json_object_skips_broken_braces() -> None:
    assert first_json_object('{oops} then {"score": 1} and {"score": 2}') == {"score": 1}
    assert first_json_object("[1, 2]") is None
