"""The constitution: principles the agents critique and revise against, read from YAML."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from docflywheel.yamlfile import read_mapping, validate_items

VERIFIERS = ("structure", "parameters", "returns_raises", "examples", "code_blocks", "length")


class Principle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    principle: str = Field(min_length=1)
    critique: str = Field(min_length=1)
    revision: str = Field(min_length=1)
    checked_by: Literal["verifier", "model"]
    verifier: Literal[VERIFIERS] | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _verifier_named(self) -> Principle:
        if self.checked_by == "verifier" and self.verifier is None:
            raise ValueError("checked_by is verifier but no `verifier` is named")
        return self


class Constitution(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    principles: tuple[Principle, ...] = Field(min_length=1)

    def get(self, principle_id: str) -> Principle:
        return next(p for p in self.principles if p.id == principle_id)

    def for_verifier(self, verifier: str) -> list[Principle]:
        return [p for p in self.principles if p.verifier == verifier]


def default_path() -> Path:
    return Path(str(resources.files("docflywheel.agents").joinpath("constitution.yaml")))


def load_constitution(path: Path | None = None) -> Constitution:
    """Read and check a constitution file; errors name the principle and field."""
    path = Path(path or default_path())
    data = read_mapping(path, "constitution", "`principles:`")
    return validate_items(path, data, Constitution, "principles", "principle")
