"""Reading documentation in the common styles, and facts from a function's code."""

from __future__ import annotations

import pytest

from docflywheel.errors import InputError
from docflywheel.eval.judges.docparse import (
    code_blocks,
    code_facts,
    documented_params,
    documented_raises,
    documented_return,
    prose,
    sections,
    summary_line,
)

STYLES = {
    "markdown": "Wrap text.\n\n## Parameters\n\n- `text` (str): the text.\n  More about it: here.\n"
                "- **width** – the width.\n\n## Returns\n\nThe lines.\n",
    "table": "Wrap text.\n\n**Arguments**\n\n| Name | Type | Meaning |\n|---|---|---|\n| `text` | str | t |\n"
             "| width | int | w |\n\n**Returns**\n\nThe lines.\n",
    "google": "Wrap text.\n\nArgs:\n    text (str): the text.\n        Continued: still text.\n"
              "    width: the width.\n\nReturns:\n    list[str]: lines.\n",
    "numpy": "Wrap text.\n\nParameters\n----------\ntext, width : str\n    Both.\n\nReturns\n-------\nlist of str\n",
    "sphinx": "Wrap text.\n\n:param str text: the text\n:param width: the width\n:returns: the lines\n",
}


@pytest.mark.parametrize("style", STYLES)
def test_parameters_and_return_are_read_in_every_style(style: str) -> None:
    doc = STYLES[style]
    assert documented_params(doc) == {"text", "width"}
    assert documented_return(doc) == "value"
    assert summary_line(doc) == ("Wrap text.", True)


def test_prose_without_a_parameter_list_has_no_documented_parameters() -> None:
    assert documented_params("Wrap ``text`` to ``width`` columns and return the lines.") is None
    assert documented_return("Wrap text and return the lines.") == "mentioned"
    assert documented_return("Wrap text.") is None
    assert documented_return("Print it.\n\nReturns:\n    None\n") == "none"


def test_code_blocks_of_every_fence_and_the_rst_directive() -> None:
    doc = ("Intro.\n\n```python\nx = 1\n```\n\n~~~\n>>> 1 + 1\n2\n~~~\n\n```bash\nls\n```\n\n"
           ".. code-block:: python\n\n    y = 2\n    print(y)\n\nAfter.\n")
    blocks = code_blocks(doc)
    assert [(b.lang, b.is_python) for b in blocks] == [("python", True), ("", True), ("bash", False),
                                                         ("python", True)]
    assert blocks[3].code == "y = 2\nprint(y)\n"
    assert "x = 1" not in prose(doc) and prose(doc).count("\n") == doc.count("\n")


def test_code_inside_a_block_is_not_read_as_sections() -> None:
    doc = "Do it.\n\n```python\n# Parameters\nx = 1\n```\n"
    assert "parameters" not in sections(prose(doc))


def test_raises_are_read_from_sections_fields_and_prose() -> None:
    assert documented_raises("F.\n\nRaises:\n    ValueError: bad.\n    KeyError: missing.\n") == {"ValueError",
                                                                                             "KeyError"}
    assert documented_raises("F.\n\n:raises TypeError: when.\n") == {"TypeError"}
    assert documented_raises("F. Raises a ``json.JSONDecodeError`` on bad input; raises OSError too.") == {"OSError"}


def test_summary_line_skips_headings_and_sees_a_run_on_first_paragraph() -> None:
    assert summary_line("# wrap\n\nWrap text.\n\nMore.") == ("Wrap text.", True)
    assert summary_line("Wrap text\nover two lines.") == ("Wrap text", False)
    assert summary_line("") == ("", False)


SOURCE = '''
import functools

class Wrapper:
    def wrap(self, text, /, width=70, *, tabsize=8):
        def helper(x):
            return x
        if width <= 0:
            raise ValueError("width")
        return [text]

    @staticmethod
    def make(width):
        raise errors.ConfigError("no")

    def lines(self, text):
        yield from text.splitlines()

async def fetch(url, *args, **kwargs):
    try:
        pass
    except KeyError as exc:
        raise
    raise exc
'''


def test_code_facts_of_methods_generators_and_async_functions() -> None:
    wrap = code_facts(SOURCE, "Wrapper.wrap")
    assert wrap.params == ("text", "width", "tabsize") and wrap.raises == {"ValueError"} and wrap.returns_value
    assert code_facts(SOURCE, "Wrapper.make").params == ("width",)
    assert code_facts(SOURCE, "Wrapper.make").raises == {"ConfigError"}
    lines = code_facts(SOURCE, "module.Wrapper.lines")
    assert lines.is_generator and not lines.returns_value
    fetch = code_facts(SOURCE, "fetch")
    assert (fetch.params, fetch.var_positional, fetch.var_keyword) == (("url",), "args", "kwargs")
    assert fetch.raises == frozenset() and not fetch.returns_value


def test_code_facts_refuse_unparsable_source_and_unknown_names() -> None:
    with pytest.raises(InputError, match="does not parse"):
        code_facts("def f(:\n", "f")
    with pytest.raises(InputError, match="no function 'Wrapper.nope'"):
        code_facts(SOURCE, "Wrapper.nope")


@pytest.mark.parametrize("text", ["x\n:  : y", ":  :y", "a\n\n:\t: b"])
def test_text_that_crashes_docstring_parser_is_read_as_prose(text: str) -> None:
    # docstring_parser 0.17 raises IndexError on these; a model can write them, a judge must not crash.
    assert documented_params(text) is None
    assert documented_return(text) is None
    assert documented_raises(text) == set()
