"""Any OpenAI-compatible server (vLLM, llama.cpp, a hosted API) through the `openai` client."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlparse, urlsplit, urlunsplit

import openai

from docflywheel.models.base import Completion, GenerationRequest, ModelSpec, public_url, without_lone_surrogates

# Worth trying again: the server may be starting, overloaded or briefly unreachable.
RETRYABLE = (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError)


def api_base(url: str) -> str:
    """`http://host:8000` and `http://host:8000/` mean the server's `/v1` API."""
    return url.rstrip("/") + "/v1" if urlparse(url).path in ("", "/") else url.rstrip("/")


class OpenAIBackend:
    """Chat completions with up to `concurrency` requests in flight; failures never raise.

    A request that times out, meets a 5xx, 429 or a connection error is retried `max_retries` times
    with exponential backoff (`backoff_s`, doubled each time); `retries` counts them all, and `failed` counts
    the requests that still failed (their completions carry the error; nothing is raised).

    A vLLM server reports each model's `max_model_len` in `/v1/models`; against one, a prompt too long for the
    model keeps its last tokens (vLLM's `truncate_prompt_tokens`, as the hf and vllm backends truncate), so it
    is answered rather than refused. Other servers get the plain OpenAI request.

    api_key: sent as the bearer token; without it, $OPENAI_API_KEY, else "EMPTY" (what vLLM and llama.cpp
        accept). The spec's URL may add user:password@ (HTTP basic auth) and a query string; none is stored.
    """

    supports_json_schema = True

    def __init__(self, spec: ModelSpec, *, api_key: str | None = None, concurrency: int = 16, seed: int = 0,
                 timeout_s: float = 120.0, max_retries: int = 3, backoff_s: float = 1.0) -> None:
        self.spec = spec
        self.concurrency = concurrency
        self.seed = seed
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.retries = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._context: int | None = None
        self._context_known = False
        # The key comes from the environment, never from the config or the spec, so no file and no store row holds it.
        api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        # The client appends its paths to base_url, so a query string there would land mid-path: it goes as a query.
        url = urlsplit(spec.base_url or "")
        # The client's own retries are off so that ours are the only ones, and counted.
        self._client = openai.OpenAI(base_url=api_base(urlunsplit(url._replace(query=""))), api_key=api_key,
                                     default_query=dict(parse_qsl(url.query)) or None, timeout=timeout_s,
                                     max_retries=0)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """One completion per request, in order."""
        if not requests:
            return []
        self._learn_context()
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(self._complete, requests))

    def close(self) -> None:
        self._client.close()

    def _complete(self, request: GenerationRequest) -> Completion:
        started = time.perf_counter()
        attempt = 0
        while True:
            try:
                response = self._client.chat.completions.create(**self._arguments(request))
                break
            except RETRYABLE as error:
                if attempt >= self.max_retries:
                    return self._failed(error, started, f" after {attempt} retries")
                with self._lock:
                    self.retries += 1
                time.sleep(self.backoff_s * 2 ** attempt)
                attempt += 1
            except openai.OpenAIError as error:
                return self._failed(error, started, "")
        elapsed = time.perf_counter() - started
        if not response.choices:
            return Completion("", latency_s=elapsed, finish_reason="error", error="the server returned no choices")
        choice = response.choices[0]
        usage = response.usage
        return Completion(without_lone_surrogates(choice.message.content or ""), usage.prompt_tokens if usage else 0,
                          usage.completion_tokens if usage else 0, elapsed, choice.finish_reason or "stop")

    def _learn_context(self) -> None:
        """The served model's context length, where the server says it (vLLM does); asked until it answers."""
        if self._context_known:
            return
        try:
            listed = {entry.id: entry for entry in self._client.models.list()}
        except openai.OpenAIError:
            return  # unreachable now: the requests will meet the same error, retry and count it
        self._context_known = True
        entry = listed.get(self.spec.model)
        length = (entry.model_extra or {}).get("max_model_len") if entry is not None else None
        self._context = int(length) if isinstance(length, int) and length > 1 else None

    def _arguments(self, request: GenerationRequest) -> dict[str, Any]:
        new = request.max_new_tokens if self._context is None else min(request.max_new_tokens, self._context - 1)
        arguments: dict[str, Any] = {
            "model": self.spec.model, "messages": list(request.messages), "max_tokens": new,
            "temperature": request.temperature, "top_p": request.top_p,
            "seed": request.seed if request.seed is not None else self.seed}
        if request.json_schema is not None:
            arguments["response_format"] = {"type": "json_schema",
                                            "json_schema": {"name": "reply", "schema": request.json_schema}}
        if self._context is not None:
            arguments["extra_body"] = {"truncate_prompt_tokens": self._context - new, "truncation_side": "left"}
        return arguments

    def _failed(self, error: Exception, started: float, retried: str) -> Completion:
        with self._lock:
            self.failed += 1
        message = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return Completion("", latency_s=time.perf_counter() - started, finish_reason="error",
                          error=f"{type(error).__name__}{retried}: {message} ({public_url(self.spec.base_url or '')})")
