"""Typed records that cross module boundaries, and the content-hash ids that make writes idempotent."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TaskKind = Literal["function", "class", "module", "tutorial", "troubleshooting"]
Split = Literal["train", "dev", "test"]
Role = Literal["student", "teacher", "revision", "evaluation"]  # evaluation: held-out test generations


def content_id(*parts: Any) -> str:
    """A stable 32-hex-digit id from the canonical JSON of `parts`."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def split_for(qualname: str) -> Split:
    """Train / dev / test (80/10/10) from a hash of the task's identity, so it never moves."""
    bucket = int(hashlib.sha256(qualname.encode("utf-8")).hexdigest(), 16) % 10
    return "test" if bucket == 9 else "dev" if bucket == 8 else "train"


class Task(BaseModel):
    """One thing to document: the code shown to the model and the human reference, if any."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    qualname: str = Field(min_length=1)
    kind: TaskKind
    code: str = Field(min_length=1)
    language: str = "python"
    package: str | None = None
    signature: str | None = None
    context: str | None = None
    reference: str | None = None
    file: str | None = None
    line: int | None = Field(default=None, ge=0)
    split: Split | None = None
    source: str = "import"
    id: str | None = None

    @field_validator("qualname", "code")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    def model_post_init(self, _: Any) -> None:
        if self.split is None:
            object.__setattr__(self, "split", split_for(self.qualname))
        if self.id is None:
            object.__setattr__(self, "id", content_id("task", self.kind, self.qualname, self.code))


class Generation(BaseModel):
    """A piece of documentation written by a model for a task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str
    text: str
    model: str
    role: Role = "student"
    prompt_hash: str
    sampling: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    sample_index: int = 0
    base_model: str | None = None
    adapter: str | None = None
    model_version: str | None = None
    parent_id: str | None = None
    critique_id: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    finish_reason: str | None = None
    iteration: int | None = None
    id: str | None = None

    def model_post_init(self, _: Any) -> None:
        if self.id is None:
            key = ("generation", self.task_id, self.model, self.model_version, self.role,
                   self.prompt_hash, self.sampling, self.seed, self.sample_index, self.parent_id,
                   self.critique_id)
            object.__setattr__(self, "id", content_id(*key))
