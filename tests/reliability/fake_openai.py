"""What the tests' stand-in HTTP servers share: a chat completion body and a JSON reply on the wire.

Used by tests/models/test_openai_backend.py, tests/reliability/test_security.py and the load run's proxy
(tests/reliability/load.py). The folder is on the import path through tests/conftest.py.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any


def chat_completion(model: str, content: str, finish_reason: str, prompt_tokens: int,
                    completion_tokens: int) -> dict[str, Any]:
    """An OpenAI chat completion with one choice."""
    return {"id": "x", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def send_json(handler: BaseHTTPRequestHandler, status: int, data: bytes) -> None:
    """Answer the handler's request with `status` and the JSON bytes `data`."""
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
