"""Verifiers on good and bad documentation of real standard-library functions."""

from __future__ import annotations

import json
import textwrap

import pytest

from docflywheel.errors import InputError
from docflywheel.eval.judges.verifiers import (
    PythonTarget,
    check_code_blocks,
    check_examples,
    check_length,
    check_parameters,
    check_returns_raises,
    check_structure,
    verify,
)
from docflywheel.eval.sandbox import SandboxLimits

WRAP = PythonTarget.from_object(textwrap.wrap)
DUMPS = PythonTarget.from_object(json.dumps)
DEDENT = PythonTarget.from_object(textwrap.dedent)
PARSE_PORT = PythonTarget("parse_port", textwrap.dedent("""
    def parse_port(text):
        if not text.isdigit():
            raise ValueError(f"not a number: {text!r}")
        port = int(text)
        if port > 65535:
            raise OverflowError("port out of range")
        return port
    """))

GOOD_WRAP = '''Wrap one paragraph into lines of at most `width` characters.

## Parameters

- `text` (str): the paragraph to wrap.
- `width` (int, default 70): the longest a line may be.
- `**kwargs`: further `TextWrapper` options, such as `break_long_words`.

## Returns

A list of lines without final newlines.

## Examples

```python
>>> wrap("The quick brown fox", width=10)
['The quick', 'brown fox']
```

```python
for line in wrap("a b c d", width=3):
    print(line)
```

Output:

```text
a b
c d
```
'''


def dumps_doc(params: str) -> str:
    return f"Serialize ``obj`` to a JSON formatted string.\n\nArgs:\n{params}\nReturns:\n    str: the JSON text.\n"


ALL_DUMPS_PARAMS = "".join(f"    {name}: what {name} does.\n" for name in
                           ["obj", "skipkeys", "ensure_ascii", "check_circular", "allow_nan", "cls", "indent",
                            "separators", "default", "sort_keys", "**kw"])


def test_markdown_parameter_list_matching_the_signature_passes() -> None:
    score = check_parameters(GOOD_WRAP, WRAP)
    assert (score.value, score.passed) == (1.0, True)
    assert score.evidence["signature"] == ["text", "width"]


def test_google_style_with_every_parameter_passes_and_a_missing_one_is_named() -> None:
    assert check_parameters(dumps_doc(ALL_DUMPS_PARAMS), DUMPS).passed
    score = check_parameters(dumps_doc(ALL_DUMPS_PARAMS.replace("    indent: what indent does.\n", "")), DUMPS)
    assert not score.passed and score.evidence["missing"] == ["indent"] and score.value == pytest.approx(0.9)
    assert "missing indent" in score.explanation


def test_invented_parameters_are_caught_where_the_signature_has_no_kwargs() -> None:
    doc = ("Remove common leading whitespace.\n\nParameters\n----------\n"
           "text : str\n    The text.\nmargin : int\n    Kept.\n")
    score = check_parameters(doc, DEDENT)
    assert not score.passed and score.evidence["invented"] == ["margin"] and score.value == pytest.approx(0.5)


def test_extra_names_on_a_kwargs_function_are_flagged_but_not_invented() -> None:
    doc = "Wrap text.\n\n:param text: the text\n:param width: the width\n:param colour: the colour\n"
    score = check_parameters(doc, WRAP)
    assert score.passed and score.evidence["through_kwargs"] == ["colour"] and "**kwargs" in score.explanation


def test_plain_prose_counts_parameters_named_in_it() -> None:
    score = check_parameters(json.dumps.__doc__ or "", DUMPS)
    assert score.evidence["style"] == "prose" and score.evidence["invented"] is None
    assert 0.5 < score.value <= 1.0
    assert check_parameters("Wrap some text.", WRAP).value == 0.0


def test_methods_leave_self_out_of_the_signature() -> None:
    target = PythonTarget.from_object(textwrap.TextWrapper.wrap)
    assert check_parameters("Wrap.\n\nArgs:\n    text: the text to wrap.\n", target).passed


def test_documented_raises_and_return_that_match_the_code_pass() -> None:
    doc = ("Parse a TCP port number.\n\nArgs:\n    text: digits.\n\nReturns:\n    int: the port.\n\n"
           "Raises:\n    ValueError: if `text` is not a number.\n    OverflowError: if it is above 65535.\n")
    score = check_returns_raises(doc, PARSE_PORT)
    assert (score.value, score.passed) == (1.0, True)


def test_undocumented_raises_and_a_claimed_none_return_fail() -> None:
    score = check_returns_raises("Parse a port.\n\nReturns: None\n", PARSE_PORT)
    assert not score.passed and score.value == 0.0
    assert score.evidence["undocumented_raises"] == ["OverflowError", "ValueError"]
    assert "returns None" in score.explanation


def test_a_return_value_the_code_never_gives_fails() -> None:
    target = PythonTarget("log", "def log(message):\n    print(message)\n")
    assert not check_returns_raises("Log a message.\n\nReturns:\n    bool: True when logged.\n", target).passed
    assert check_returns_raises("Log a message.\n\nReturns:\n    None\n", target).passed


def test_raises_only_reached_through_called_code_are_not_held_against_the_doc() -> None:
    score = check_returns_raises("Wrap text and return the lines.\n\nRaises ValueError if width <= 0.\n", WRAP)
    assert score.passed and score.evidence["unverified_raises"] == ["ValueError"]


def test_code_blocks_that_parse_pass_and_a_broken_one_is_located() -> None:
    assert check_code_blocks(GOOD_WRAP).passed
    broken = GOOD_WRAP + "\n```python\nfor line in wrap(text)\n    print(line)\n```\n"
    score = check_code_blocks(broken)
    assert not score.passed and score.value == pytest.approx(2 / 3)
    assert score.evidence["failures"][0]["line"] == GOOD_WRAP.count("\n") + 3
    assert check_code_blocks("Just words.").value is None


def test_doctest_examples_outside_fences_are_parsed_too() -> None:
    assert not check_code_blocks("Wrap.\n\n    >>> print 'old'\n    old\n").passed


def test_examples_that_run_and_show_the_right_output_pass() -> None:
    score = check_examples(GOOD_WRAP, WRAP)
    assert (score.value, score.passed) == (1.0, True)
    assert score.evidence["passed"] == score.evidence["total"] == 2


def test_an_example_showing_the_wrong_output_fails_with_its_evidence() -> None:
    doc = GOOD_WRAP.replace("['The quick', 'brown fox']", "['The quick brown fox']")
    score = check_examples(doc, WRAP)
    assert not score.passed and score.value == 0.5
    failure = score.evidence["failures"][0]
    assert failure["got"] == "['The quick', 'brown fox']\n" and failure["expected"] == "['The quick brown fox']\n"
    assert failure["line"] == GOOD_WRAP.count("\n", 0, GOOD_WRAP.index(">>>")) + 1


def test_docstring_examples_against_a_function_given_only_as_source() -> None:
    doc = textwrap.dedent('''\
        Parse a port.

            >>> parse_port("8080")
            8080
            >>> parse_port("x")
            Traceback (most recent call last):
            ValueError: not a number: 'x'
            >>> parse_port("99999")
            99999
        ''')
    score = check_examples(doc, PARSE_PORT)
    assert score.value == pytest.approx(2 / 3)
    assert "OverflowError" in score.evidence["failures"][0]["error"]


def test_examples_cannot_escape_the_sandbox() -> None:
    doc = "Wrap.\n\n>>> open('/etc/docflywheel-owned', 'w')\n>>> wrap('a')\n['a']\n"
    score = check_examples(doc, WRAP)
    assert score.evidence["passed"] == 1 and "not allowed" in score.evidence["failures"][0]["error"]


def test_an_example_that_never_ends_is_cut_off_and_fails() -> None:
    doc = "Wrap.\n\n>>> wrap('a')\n['a']\n>>> while True: pass\n"
    score = check_examples(doc, WRAP, limits=SandboxLimits(cpu_seconds=1, wall_seconds=4))
    assert not score.passed and score.evidence["sandbox"]["status"] == "timeout"
    assert "not all examples ran" in score.evidence["failures"][-1]["error"]


def test_examples_that_reach_into_the_checker_are_not_run() -> None:
    doc = "Wrap.\n\n>>> import gc; gc.get_objects()\n>>> wrap('a')\n['a']\n"
    score = check_examples(doc, WRAP)
    assert (score.value, score.passed) == (0.0, False) and "reaches into the checker" in score.explanation


def test_no_examples_or_an_unloadable_target_give_no_score() -> None:
    assert check_examples("Wrap text.", WRAP).value is None
    missing = PythonTarget("wrap", "def wrap(text):\n    return [text]\n", module="docflywheel_no_such_module")
    score = check_examples(">>> wrap('a')\n['a']\n", missing)
    assert score.value is None and "could not be loaded" in score.explanation


def test_structure_wants_a_summary_line_and_the_needed_sections() -> None:
    assert check_structure(GOOD_WRAP, WRAP).value == 1.0
    score = check_structure("- wraps text\n- returns lines\n", WRAP)
    assert not score.passed and set(score.evidence["missing"]) >= {"one-line summary", "parameters section"}
    rambling = "This function wraps text\nand it goes on about it over two lines.\n\nArgs:\n    text: t\n"
    assert "one-line summary" in check_structure(rambling, WRAP).evidence["missing"]


def test_length_scores_fall_outside_the_band() -> None:
    assert check_length(GOOD_WRAP).passed
    short = check_length("Wraps text.")
    assert not short.passed and short.value == pytest.approx(2 / 15)
    assert check_length("word " * 800).value == pytest.approx(0.5)


def test_verify_runs_every_verifier_in_order() -> None:
    names = [score.verifier for score in verify(GOOD_WRAP, WRAP)]
    assert names == ["parameters", "returns_raises", "code_blocks", "examples", "structure", "length"]


def test_targets_without_source_or_with_an_unknown_name_are_refused() -> None:
    with pytest.raises(InputError, match="no Python source"):
        PythonTarget.from_object(len)
    with pytest.raises(InputError, match="no function 'nope'"):
        check_parameters("x", PythonTarget("nope", "def other(): pass\n"))
