"""Judge prompt templates: Jinja files under eval/prompts/, identified by a hash of their text."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

import jinja2

from docflywheel.errors import InputError

MAX_CODE_CHARS = 1200  # the bootstrapped models see 512 tokens; ~3.4 characters per token
MAX_DOC_CHARS = 1200


@cache
def source(name: str) -> str:
    """The text of eval/prompts/<name>.jinja."""
    path = resources.files("docflywheel.eval").joinpath("prompts", f"{name}.jinja")
    if not path.is_file():
        raise InputError(f"prompt template eval/prompts/{name}.jinja is missing: restore it or reinstall docflywheel")
    return path.read_text(encoding="utf-8")


@cache
def template(name: str) -> jinja2.Template:
    """The template eval/prompts/<name>.jinja, with undefined fields an error."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    return env.from_string(source(name))


def template_hash(name: str) -> str:
    """A judge's prompt identity: changing the template file changes the hash, and so the judgment ids."""
    return hashlib.sha256(source(name).encode("utf-8")).hexdigest()[:16]


def render(name: str, **fields: object) -> str:
    return template(name).render(**fields).strip()


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, marked when cut."""
    return text if len(text) <= limit else text[:limit] + "\n..."
