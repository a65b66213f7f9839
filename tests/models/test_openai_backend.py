from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fake_openai import chat_completion, send_json

from docflywheel.models.base import GenerationRequest, ModelSpec
from docflywheel.models.openai_backend import OpenAIBackend, api_base
from docflywheel.models.vllm_server import free_port

REQUEST = GenerationRequest([{"role": "user", "content": "Document add()."}], max_new_tokens=8)


class FlakyServer(ThreadingHTTPServer):
    """Answers the first `failures` chat requests with a 503, then with a fixed completion."""

    def __init__(self, failures: int) -> None:
        super().__init__(("127.0.0.1", 0), FlakyHandler)
        self.failures = failures
        self.bodies: list[dict] = []
        self.lock = threading.Lock()


class FlakyHandler(BaseHTTPRequestHandler):
    server: FlakyServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.bodies.append(body)
            fail = len(self.server.bodies) <= self.server.failures
        status, reply = (503, {"error": {"message": "busy"}}) if fail else (
            200, chat_completion(body["model"], "Adds two numbers.", "length", 11, 4))
        send_json(self, status, json.dumps(reply).encode())

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    server = FlakyServer(failures=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_a_dead_server_gives_error_completions_after_retries_and_never_raises() -> None:
    spec = ModelSpec("openai", "micro", base_url=f"http://127.0.0.1:{free_port()}/v1")
    backend = OpenAIBackend(spec, max_retries=2, backoff_s=0.01, concurrency=2)
    completions = backend.generate([REQUEST, REQUEST, REQUEST])
    assert [c.finish_reason for c in completions] == ["error"] * 3
    assert all("APIConnectionError after 2 retries" in (c.error or "") for c in completions)
    assert (backend.retries, backend.failed) == (6, 3)


def test_server_errors_are_retried_until_an_answer_comes(flaky: FlakyServer) -> None:
    spec = ModelSpec("openai", "micro", base_url=f"http://127.0.0.1:{flaky.server_port}")
    backend = OpenAIBackend(spec, api_key="secret", max_retries=3, backoff_s=0.01)
    schema = {"type": "object", "properties": {"summary": {"type": "string"}}}
    completion = backend.generate([GenerationRequest(REQUEST.messages, max_new_tokens=8, json_schema=schema)])[0]
    assert (completion.text, completion.tokens_in, completion.tokens_out) == ("Adds two numbers.", 11, 4)
    assert completion.finish_reason == "length" and (backend.retries, backend.failed) == (2, 0)
    sent = flaky.bodies[-1]
    assert sent["max_tokens"] == 8 and sent["temperature"] == 0 and sent["seed"] == 0
    assert sent["response_format"]["json_schema"]["schema"] == schema
    assert "secret" not in json.dumps(vars(backend), default=str)


def test_a_server_root_means_its_v1_api() -> None:
    assert api_base("http://host:8000") == "http://host:8000/v1"
    assert api_base("http://host:8000/") == "http://host:8000/v1"
    assert api_base("https://api.example.com/v1/") == "https://api.example.com/v1"
