"""Serve the champion through vLLM's OpenAI-compatible server: its base model, plus its LoRA adapter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from docflywheel.config import Config
from docflywheel.errors import InputError
from docflywheel.models.base import parse_spec
from docflywheel.models.vllm_server import VLLMServer, server_command, start_server
from docflywheel.store import Store
from docflywheel.training.promote import current_champion

BASE_NAME = "base"
CHAMPION_NAME = "champion"


@dataclass(frozen=True)
class ServePlan:
    """What to serve: the base model folder (or hub id) and, for a LoRA champion, its adapter."""

    spec: str
    base: str
    adapters: dict[str, str]

    @property
    def served(self) -> str:
        """The model name clients ask for: the adapter's when there is one."""
        return CHAMPION_NAME if self.adapters else BASE_NAME

    def client_spec(self, base_url: str) -> str:
        """The `openai:` spec that generates through this server (e.g. for the next turn of the loop)."""
        return f"openai:{base_url}#{self.served}"


def plan(store: Store, config: Config, model: str | None = None) -> ServePlan:
    """Serve `model`, or else the store's champion, or else the configured student."""
    spec = model or (current_champion(store) if store.path.exists() else None) or config.models.student
    parsed = parse_spec(spec, config.models.cache_dir)
    if parsed.backend == "openai":
        raise InputError(f"{spec} is already served by an OpenAI-compatible server; give a local or hub model")
    if parsed.adapter and not (Path(parsed.adapter) / "adapter_config.json").exists():
        raise InputError(f"adapter folder {parsed.adapter} of {spec} has no adapter_config.json: retrain it with "
                         f"`docflywheel train` or serve another model with --model")
    if Path(parsed.model).expanduser().is_absolute() and not Path(parsed.model).exists():
        raise InputError(f"model folder {parsed.model} of {spec} does not exist: bootstrap or retrain it")
    return ServePlan(str(parsed), parsed.model, {CHAMPION_NAME: parsed.adapter} if parsed.adapter else {})


def command(serve_plan: ServePlan, *, port: int, host: str = "127.0.0.1") -> list[str]:
    return server_command(serve_plan.base, port=port, host=host, served_model_name=BASE_NAME,
                          adapters=serve_plan.adapters or None)


def start(serve_plan: ServePlan, *, log_path: Path, port: int | None = None, host: str = "127.0.0.1",
          timeout_s: float = 300.0) -> VLLMServer:
    """Start the server and wait until it answers; the caller stops it."""
    return start_server(serve_plan.base, log_path=log_path, port=port, host=host, timeout_s=timeout_s,
                        served_model_name=BASE_NAME, adapters=serve_plan.adapters or None)
