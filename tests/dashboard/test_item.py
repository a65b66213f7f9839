"""How one review item's text is put on screen."""

from __future__ import annotations

from docflywheel.dashboard.item import as_markdown


def test_doctest_examples_are_fenced_so_markdown_does_not_quote_them() -> None:
    doc = "Add two numbers.\n\n>>> add(1, 2)\n3\n>>> add(0)\n1\n\nSee also: sub."
    assert as_markdown(doc) == ("Add two numbers.\n\n```pycon\n>>> add(1, 2)\n3\n>>> add(0)\n1\n```\n\n"
                                "See also: sub.")
    assert as_markdown(">>> f()\n2") == "```pycon\n>>> f()\n2\n```"


def test_examples_already_in_a_code_block_are_left_alone() -> None:
    doc = "Example:\n\n```python\n>>> f()\n2\n```\n"
    assert as_markdown(doc) == doc.rstrip("\n")
