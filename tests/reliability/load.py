"""The load run: real tasks through generation and judging against a vLLM server that fails on purpose.

Shared by tests/reliability/test_load.py (a few hundred tasks, micro model) and `bench/reliability.py --only load`
(10,000 tasks, the shipped tiny model). A proxy sits between the openai backend and the server. By a fixed
schedule of request numbers it answers 503, drops the connection without a reply, or holds the request past
the client's timeout; every other request goes to the server unchanged. The run goes window by window: each
window generates one document per task (`docflywheel.generate`, stored batch by batch) and then judges every
stored document with the rubric judge (one criterion, JSON-schema replies), both through the proxy with
bounded concurrency. After each window it records the throughput and the resident memory of this process
and of the server's process tree.
"""

from __future__ import annotations

import http.server
import json
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
from fake_openai import send_json

from docflywheel.config import GenerationConfig
from docflywheel.eval.judges import rubric
from docflywheel.generate import generate
from docflywheel.models.base import parse_spec
from docflywheel.models.openai_backend import OpenAIBackend
from docflywheel.records import Task
from docflywheel.store import Store
from docflywheel.tasks import extract_tasks

# Real code to document: sympy (a torch dependency, so installed wherever docflywheel is) has over 12,000
# public functions, classes and modules; the others top it up if a version has fewer.
TASK_PACKAGES = ("sympy", "transformers", "email", "logging")
CRITERION = "fluency"


@dataclass(frozen=True)
class FaultPlan:
    """Request n (counted from 1 at the proxy) fails when n is a multiple of one of these; 0 turns a kind off."""

    every_503: int = 29
    every_dropped: int = 43
    every_timeout: int = 307

    def fault(self, n: int) -> str | None:
        for kind, every in (("timeout", self.every_timeout), ("dropped", self.every_dropped),
                            ("503", self.every_503)):
            if every and n % every == 0:
                return kind
        return None


class FaultyProxy:
    """An HTTP proxy to `upstream` (scheme://host:port) that injects `plan`'s faults; `counts` says what it did.

    hold_s: how long a "timeout" request is held before the connection is closed unanswered; make it longer
    than the client's timeout.
    """

    def __init__(self, upstream: str, plan: FaultPlan, hold_s: float) -> None:
        parts = urlsplit(upstream)
        self.upstream = f"{parts.scheme}://{parts.netloc}"
        self.plan = plan
        self.hold_s = hold_s
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=None, limits=httpx.Limits(max_connections=256))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def injected(self) -> int:
        return sum(self.counts[kind] for kind in ("503", "dropped", "timeout"))

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def _next_fault(self) -> str | None:
        with self._lock:
            self.counts["attempts"] += 1
            fault = self.plan.fault(self.counts["attempts"])
            self.counts[fault or "forwarded"] += 1
            return fault

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - the http.server interface
                self._forward(b"")

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy._next_fault()
                if fault == "503":
                    overloaded = {"error": {"message": "injected: overloaded", "code": 503}}
                    send_json(self, 503, json.dumps(overloaded).encode())
                elif fault == "dropped":
                    self._drop()
                elif fault == "timeout":
                    time.sleep(proxy.hold_s)
                    self._drop()
                else:
                    self._forward(body)

            def _forward(self, body: bytes) -> None:
                answer = proxy._client.request(self.command, proxy.upstream + self.path, content=body,
                                               headers={"Content-Type": self.headers.get("Content-Type",
                                                                                         "application/json")})
                send_json(self, answer.status_code, answer.content)

            def _drop(self) -> None:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # the client may have hung up first

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


@dataclass
class Window:
    index: int
    tasks: int
    attempts: int  # generation and judge requests that reached the proxy, retries included
    seconds: float
    tasks_per_s: float  # tasks documented and judged per second
    client_rss_mb: float
    server_rss_mb: float


@dataclass
class LoadFigures:
    tasks: int
    concurrency: int
    generations_stored: int
    generations_failed: int
    judgments_stored: int
    judgments_unreadable: int  # replies the judge could not read: recorded as failed judgments, not errors
    requests_failed: int  # requests that still failed after every retry (recorded and counted, never raised)
    retries: int
    faults_injected: dict[str, int]
    seconds: float
    windows: list[Window] = field(default_factory=list)

    @property
    def throughput_end_vs_start(self) -> float:
        """Tasks/s of the last quarter of windows over the first quarter's (1.0 is perfectly flat)."""
        quarter = max(1, len(self.windows) // 4)
        rates = [w.tasks_per_s for w in self.windows]
        return round(statistics.mean(rates[-quarter:]) / statistics.mean(rates[:quarter]), 3)

    def memory_end_vs_middle(self, which: str) -> float:
        """Resident memory after the last window over that after the middle one (`client` or `server`)."""
        values = [getattr(w, f"{which}_rss_mb") for w in self.windows]
        return round(values[-1] / values[len(values) // 2], 3) if values[len(values) // 2] else 0.0

    def summary(self) -> dict[str, Any]:
        rates = [w.tasks_per_s for w in self.windows]
        return {"load_tasks": self.tasks, "load_concurrency": self.concurrency,
                "load_generations_stored": self.generations_stored, "load_generations_failed": self.generations_failed,
                "load_judgments_stored": self.judgments_stored, "load_judgments_unreadable": self.judgments_unreadable,
                "load_requests_failed": self.requests_failed, "load_retries": self.retries,
                **{f"load_injected_{kind}": count for kind, count in self.faults_injected.items()},
                "load_tasks_per_s_min": round(min(rates), 2), "load_tasks_per_s_max": round(max(rates), 2),
                "load_throughput_end_vs_start": self.throughput_end_vs_start,
                "load_client_memory_end_vs_middle": self.memory_end_vs_middle("client"),
                "load_server_memory_end_vs_middle": self.memory_end_vs_middle("server"),
                "load_seconds": round(self.seconds, 1)}


def real_tasks(count: int) -> list[Task]:
    """`count` distinct tasks extracted from installed packages' source, in a fixed order."""
    chosen: dict[str, Task] = {}
    for package in TASK_PACKAGES:
        for task in extract_tasks(package):  # a name defined twice in a module gives two tasks, possibly one id
            chosen.setdefault(task.id, task)  # type: ignore[arg-type]
            if len(chosen) == count:
                return list(chosen.values())
    raise RuntimeError(f"only {len(chosen)} tasks in {', '.join(TASK_PACKAGES)}; the load run needs {count}")


def tree_rss_mb(pid: int | None) -> float:
    """Resident memory of a process and all its children, in MiB (0 when there is no such process)."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def load_run(db: Path, upstream: str, served_model: str, *, tasks: int, windows: int, concurrency: int,
             plan: FaultPlan, timeout_s: float, server_pid: int | None = None, max_new_tokens: int = 64,
             say: Callable[[str], None] = lambda line: None) -> LoadFigures:
    """Document and judge `tasks` real tasks in `windows` equal windows through a FaultyProxy to `upstream`."""
    store = Store(db)
    store.init()
    everything = real_tasks(tasks)
    store.add_tasks(everything)
    stored = {task.id: task for task in store.tasks()}
    everything = [stored[task.id] for task in everything]  # type: ignore[index]
    settings = GenerationConfig(max_new_tokens=max_new_tokens, batch_size=concurrency * 8, concurrency=concurrency)
    per_window = -(-len(everything) // windows)
    figures = LoadFigures(tasks=len(everything), concurrency=concurrency, generations_stored=0, generations_failed=0,
                          judgments_stored=0, judgments_unreadable=0, requests_failed=0, retries=0,
                          faults_injected={}, seconds=0.0)
    me = psutil.Process()
    started = time.perf_counter()
    with FaultyProxy(upstream, plan, hold_s=timeout_s + 1.0) as proxy:
        backend = OpenAIBackend(parse_spec(f"openai:{proxy.base_url}#{served_model}", db.parent),
                                concurrency=concurrency, timeout_s=timeout_s, backoff_s=0.2)
        try:
            for index in range(windows):
                chunk = everything[index * per_window:(index + 1) * per_window]
                if not chunk:
                    break
                window_started = time.perf_counter()
                attempts_before = proxy.counts["attempts"]
                made = generate(store, backend, chunk, 1, settings, show_progress=False)
                figures.generations_failed += made.failed
                ids = [t.id for t in chunk]
                written = store.generations(task_ids=ids, model=str(backend.spec))  # type: ignore[arg-type]
                documents = {g.task_id: g for g in written}
                pairs = [(t, documents[t.id]) for t in chunk if t.id in documents]
                judged = rubric.judge_and_store(store, backend, pairs, criteria=[CRITERION])
                figures.judgments_unreadable += judged.failed
                seconds = time.perf_counter() - window_started
                attempts = proxy.counts["attempts"] - attempts_before
                window = Window(index, len(chunk), attempts, round(seconds, 2), round(len(chunk) / seconds, 2),
                                round(me.memory_info().rss / 2**20, 1), round(tree_rss_mb(server_pid), 1))
                figures.windows.append(window)
                say(f"window {index + 1}/{windows}: {len(chunk)} tasks, {attempts} requests in {seconds:.1f} s "
                    f"({window.tasks_per_s:.1f} tasks/s), retries so far {backend.retries}, client "
                    f"{window.client_rss_mb:.0f} MiB, server {window.server_rss_mb:.0f} MiB")
        finally:
            backend.close()
        figures.retries = backend.retries
        figures.requests_failed = backend.failed
        figures.faults_injected = {kind: proxy.counts[kind] for kind in ("503", "dropped", "timeout")}
    figures.seconds = time.perf_counter() - started
    counts = store.counts()
    figures.generations_stored = counts["generations"]
    figures.judgments_stored = counts["judgments"]
    return figures


def window_table(figures: LoadFigures) -> str:
    """The windows as a markdown table."""
    lines = ["| window | tasks | requests | seconds | tasks/s | client MiB | server MiB |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {w.index + 1} | {w.tasks} | {w.attempts} | {w.seconds} | {w.tasks_per_s} | {w.client_rss_mb} | "
              f"{w.server_rss_mb} |" for w in figures.windows]
    return "\n".join(lines)
