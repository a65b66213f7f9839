"""The one small interface every model backend implements: batched `generate`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from docflywheel.errors import InputError

BackendName = Literal["hf", "vllm", "openai"]

_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?[^/?#]*@")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def public_url(url: str) -> str:
    """`url` as it may be stored, logged or shown: without `user:password@` and the query string (keys hide there)."""
    return _USERINFO.sub(lambda m: m.group(1) or "", url).partition("?")[0]


def without_lone_surrogates(text: str) -> str:
    """`text` with each lone surrogate (a JSON escape such as "\\ud800" decodes to one) as U+FFFD.

    No UTF-8 store can hold a lone surrogate; one character for one keeps the text's length.
    """
    return _LONE_SURROGATE.sub("\ufffd", text)


@dataclass(frozen=True)
class GenerationRequest:
    """One chat prompt and how to sample its reply. temperature 0 means greedy."""

    messages: list[dict[str, str]]
    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    json_schema: dict[str, Any] | None = None

    def sampling(self) -> dict[str, Any]:
        """The settings that define a sample, as stored with each generation."""
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "top_p": self.top_p, "json_schema": self.json_schema is not None}


@dataclass(frozen=True)
class Completion:
    """A model's reply; `finish_reason` is "stop", "length" or "error" (then `error` says why)."""

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    finish_reason: str = "stop"
    error: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """Which backend serves which model: `hf:PATH[#ADAPTER]`, `vllm:PATH[#ADAPTER]`, `openai:URL#MODEL`.

    A bare name (`tiny`) is a bootstrapped model in the cache folder, served by transformers. `str(spec)`, the
    form that is stored and shown, leaves out a URL's user:password@ and query string; `base_url` keeps them.
    """

    backend: BackendName
    model: str
    adapter: str | None = None
    base_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"ModelSpec({str(self)!r})"

    def __str__(self) -> str:
        if self.backend == "openai":
            return f"openai:{public_url(self.base_url or '')}#{self.model}"
        return f"{self.backend}:{self.model}" + (f"#{self.adapter}" if self.adapter else "")


def parse_spec(spec: str, cache_dir: Path) -> ModelSpec:
    """Read a model spec string; names without a backend resolve to the bootstrap cache."""
    backend, sep, rest = spec.partition(":")
    if not sep or backend not in ("hf", "vllm", "openai"):
        if "/" not in spec and ":" not in spec:
            return ModelSpec("hf", str(Path(cache_dir) / spec))
        raise InputError(
            f"model spec '{spec}' names no backend: write hf:PATH, vllm:PATH, openai:URL#MODEL "
            "or the name of a bootstrapped model (tiny, small)")
    target, _, after = rest.partition("#")
    if not target:
        raise InputError(f"model spec '{spec}' has no model after '{backend}:'")
    if backend == "openai":
        if not after:
            raise InputError(f"model spec '{spec}' names no served model: write openai:URL#MODEL")
        return ModelSpec("openai", after, base_url=target)
    if "/" not in target and not Path(target).exists() and (Path(cache_dir) / target).exists():
        target = str(Path(cache_dir) / target)
    return ModelSpec(backend, target, adapter=after or None)  # type: ignore[arg-type]


class Backend(Protocol):
    spec: ModelSpec
    supports_json_schema: bool

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """One completion per request, in order; failures come back as finish_reason "error"."""
        ...

    def close(self) -> None:
        ...
