"""One typed configuration, read from YAML and overridden by CLI flags. Defaults live here only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docflywheel.errors import ConfigError
from docflywheel.training.config import CurationSettings, TrainingSettings
from docflywheel.yamlfile import read_mapping


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreConfig(_Section):
    path: Path = Field(Path("flywheel.duckdb"), description="DuckDB file holding everything the flywheel records")
    busy_timeout_s: float = Field(60.0, gt=0, description="how long to wait while another process writes")


class ModelsConfig(_Section):
    student: str = Field("tiny", description="model spec of the student: a bootstrapped name, hf:PATH, vllm:PATH or openai:URL#model")
    teacher: str | None = Field("small", description="model spec of the teacher, or null for none")
    cache_dir: Path = Field(Path.home() / ".cache" / "docflywheel" / "models",
                            description="where bootstrapped models are saved and looked up by name")


class GenerationConfig(_Section):
    max_new_tokens: int = Field(128, gt=0)
    temperature: float = Field(0.8, ge=0, description="0 means greedy")
    top_p: float = Field(0.95, gt=0, le=1)
    batch_size: int = Field(16, gt=0, description="prompts per batched call to an in-process backend")
    concurrency: int = Field(16, gt=0, description="requests in flight to an OpenAI-compatible server")
    seed: int = 0
    device: str = Field("auto", description="torch device for the transformers backend: auto, cpu or cuda")
    threads: int | None = Field(1, gt=0, description="torch CPU threads for the transformers backend; one is "
                                                     "fastest on a shared 2-core machine, null leaves torch's default")


class RouteConfig(_Section):
    """Where a judged generation goes, by its jury score on the 1-5 scale (eval/jury.yaml)."""

    accept: float = Field(2.6, ge=1, le=5, description="jury score at or above which it goes to curation")
    reject: float = Field(1.8, ge=1, le=5, description="jury score below which it is rejected")
    max_spread: float = Field(1.8, gt=0, description="judges further apart than this send it to human review")


class BootstrapConfig(_Section):
    seed: int = 0
    corpus_chars: int | None = Field(None, gt=0, description="cap on the text gathered; null: each size's own")


class TasksConfig(_Section):
    packages: list[str] = Field(
        default_factory=lambda: ["logging", "http", "email", "tarfile", "pathlib", "statistics", "calendar"],
        description="installed packages whose source `docflywheel run` documents when the store has no tasks")
    kinds: list[str] = Field(default_factory=lambda: ["function", "class", "module"])


class FlywheelConfig(_Section):
    """One turn of `docflywheel run`: agents on train tasks, curate, train, evaluate on test tasks, promote."""

    iterations: int = Field(2, ge=1, description="turns of the loop a run makes sure are done")
    train_tasks: int | None = Field(120, gt=0, description="train tasks the agents document each turn; null: all")
    test_tasks: int | None = Field(80, gt=1, description="test tasks the challenger is scored on; null: all")
    samples: int = Field(4, ge=2, description="documents per train task and turn: the best and worst make the data")
    critique_top: int | None = Field(1, ge=1, description=(
        "critique and revise only each task's best k samples (they are the SFT candidates); null: all"))
    eval_samples: int = Field(2, ge=1, description="documents per test task when a model is evaluated")
    train: list[str] = Field(default_factory=lambda: ["sft", "dpo"], description=(
        "training steps in order, each on the model the previous made; distill runs first when a teacher is set"))
    promote_tolerance: float = Field(0.25, ge=0, description="largest drop of any jury member a promotion allows")
    confidence: float = Field(0.95, gt=0, lt=1, description="level of the bootstrap intervals")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: StoreConfig = Field(default_factory=StoreConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    route: RouteConfig = Field(default_factory=RouteConfig)
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    tasks: TasksConfig = Field(default_factory=TasksConfig)
    flywheel: FlywheelConfig = Field(default_factory=FlywheelConfig)
    curation: CurationSettings = Field(default_factory=CurationSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """The config from a YAML file (optional) with dotted overrides such as {"store.path": "x.duckdb"}."""
    data: dict[str, Any] = {}
    where = "flags"
    if path is not None:
        where = str(path)
        data = read_mapping(Path(path), "config file", "sections (store, models, ...)", ConfigError)
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{where}: field '{field}': {first['msg']} (see `docflywheel config` for the defaults)") from None
