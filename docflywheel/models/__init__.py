"""Model backends behind one interface: `load_backend(spec, generation, cache_dir).generate(requests)`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from docflywheel.config import GenerationConfig
from docflywheel.errors import ModelError
from docflywheel.models.base import Backend, Completion, GenerationRequest, ModelSpec, parse_spec

__all__ = ["Backend", "Completion", "GenerationRequest", "ModelSpec", "load_backend", "parse_spec"]


def load_backend(spec: str | ModelSpec, generation: GenerationConfig, cache_dir: Path, *,
                 api_key: str | None = None) -> Backend:
    """The backend a spec names, set up from the generation config.

    api_key: for an OpenAI-compatible server; handed to the client, never stored.
    """
    bare_name = isinstance(spec, str) and ":" not in spec and "/" not in spec
    if isinstance(spec, str):
        spec = parse_spec(spec, cache_dir)
    if spec.backend == "openai":
        from docflywheel.models.openai_backend import OpenAIBackend

        return OpenAIBackend(spec, api_key=api_key, concurrency=generation.concurrency, seed=generation.seed)
    local = Path(spec.model).expanduser()
    if bare_name and not local.exists():
        from docflywheel.bootstrap import copy_shipped

        copy_shipped(local.name, local)  # `tiny` works out of the box: the package carries it
    if local.exists():
        spec = replace(spec, model=str(local))
    elif local.is_absolute() or spec.model.startswith((".", "~")):
        if bare_name:
            from docflywheel.bootstrap.train import SIZES as BOOTSTRAP_SIZES

            if local.name in BOOTSTRAP_SIZES:
                raise ModelError(f"model '{local.name}' is not bootstrapped yet: run "
                                 f"`docflywheel bootstrap --size {local.name}`")
            raise ModelError(f"model spec '{local.name}' names no backend and no bootstrapped model: write "
                             f"hf:PATH, vllm:PATH, openai:URL#MODEL or one of {', '.join(BOOTSTRAP_SIZES)}")
        raise ModelError(f"model folder '{spec.model}' does not exist: fix the path or give a hub id")
    if spec.backend == "vllm":
        from docflywheel.models.vllm_backend import VLLMBackend

        return VLLMBackend(spec, seed=generation.seed)
    from docflywheel.models.hf import HFBackend

    return HFBackend(spec, batch_size=generation.batch_size, device=generation.device, seed=generation.seed,
                     threads=generation.threads)
