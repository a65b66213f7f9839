"""Prompt templates: Jinja files under agents/prompts/, rendered with a task's fields."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

import jinja2

from docflywheel.errors import InputError
from docflywheel.records import Task

MAX_CODE_CHARS = 1200  # the bootstrapped models see 512 tokens; ~3.4 characters per token


@cache
def template(name: str) -> jinja2.Template:
    """The template agents/prompts/<name>.jinja, with undefined fields an error."""
    path = resources.files("docflywheel.agents").joinpath("prompts", f"{name}.jinja")
    if not path.is_file():
        raise InputError(f"prompt template agents/prompts/{name}.jinja is missing: restore it or reinstall docflywheel")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    return env.from_string(path.read_text(encoding="utf-8"))


def task_prompt(name: str, task: Task, max_code_chars: int = MAX_CODE_CHARS, **extra: str) -> str:
    """Render agents/prompts/<name>.jinja with the task's fields (code cut to `max_code_chars`) and `extra`."""
    code = task.code if len(task.code) <= max_code_chars else task.code[:max_code_chars] + "\n..."
    fields = {**task.model_dump(), "code": code.rstrip(), **extra}
    return template(name).render(**fields).strip()


def document_prompt(task: Task, max_code_chars: int = MAX_CODE_CHARS) -> str:
    """The user message asking a model to document `task`."""
    return task_prompt("document", task, max_code_chars)


def prompt_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
