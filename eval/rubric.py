"""The rubric: criteria the LLM rubric judge scores on a 1-5 scale, read from eval/rubric.yaml."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from docflywheel.errors import InputError
from docflywheel.yamlfile import read_mapping, validate_items

SCALE = (1, 2, 3, 4, 5)


class Criterion(BaseModel):
    """One thing the judge scores, with what each point of the scale means."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    definition: str = Field(min_length=1)
    source: Literal["crupi2025", "constitution", "project"] = "project"
    scale: dict[int, str]

    @field_validator("scale")
    @classmethod
    def _five_points(cls, scale: dict[int, str]) -> dict[int, str]:
        if sorted(scale) != list(SCALE):
            raise ValueError(f"needs exactly the points 1, 2, 3, 4, 5 (found {sorted(scale)})")
        blank = [point for point, text in scale.items() if not str(text).strip()]
        if blank:
            raise ValueError(f"point {blank[0]} has no description")
        return dict(sorted(scale.items()))


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    criteria: tuple[Criterion, ...] = Field(min_length=1)

    def get(self, criterion_id: str) -> Criterion:
        """The criterion with this id; an InputError lists the known ones."""
        for criterion in self.criteria:
            if criterion.id == criterion_id:
                return criterion
        known = ", ".join(c.id for c in self.criteria)
        raise InputError(f"rubric has no criterion '{criterion_id}': use one of {known}")

    def select(self, ids: list[str] | tuple[str, ...] | None = None) -> tuple[Criterion, ...]:
        """The named criteria in the order given, or all of them."""
        return self.criteria if ids is None else tuple(self.get(i) for i in ids)


def default_path() -> Path:
    return Path(str(resources.files("docflywheel.eval").joinpath("rubric.yaml")))


def load_rubric(path: Path | None = None) -> Rubric:
    """Read and check a rubric file; errors name the criterion and field."""
    path = Path(path or default_path())
    data = read_mapping(path, "rubric", "`criteria:`")
    return validate_items(path, data, Rubric, "criteria", "criterion")
