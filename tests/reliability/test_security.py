"""Secrets and held-out data: an API key reaches the server and nothing else (store, output, export, card); a reply
with a lone surrogate is stored, not lost; no exported row comes from a dev or test task; a store never fetches
a DuckDB extension."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest
from fake_openai import chat_completion, send_json

from docflywheel.agents.prompts import document_prompt, prompt_hash
from docflywheel.agents.route import decide
from docflywheel.config import GenerationConfig, RouteConfig
from docflywheel.eval.judges import rubric, verifier_judge
from docflywheel.eval.scoring import jury_scores, reference_rows
from docflywheel.models import ModelSpec, load_backend
from docflywheel.models.openai_backend import OpenAIBackend
from docflywheel.models.vllm_server import free_port
from docflywheel.records import Generation, Task
from docflywheel.store import Store
from docflywheel.training.curate import curate_all

Cli = Callable[..., subprocess.CompletedProcess[str]]  # the `cli` fixture of tests/reliability/conftest.py
ENV_KEY, URL_KEY, QUERY_KEY = "sk-test-SECRET", "sk-url-SECRET", "sk-query-SECRET"
REFERENCE = ("Scale a point away from the origin.\n\nArgs:\n    x: horizontal coordinate."
             "\n    y: vertical coordinate.\n"
             "    factor: how much to stretch both coordinates.\n\nReturns:\n    The scaled point as a tuple (x, y).")
# Scores about 4.7 with the offline jury against REFERENCE (tests/training/conftest.py: Kit.GOOD), so it is accepted.
GOOD = ("Scale a point away from the origin by a factor.\n\nArgs:\n    x: horizontal coordinate of the point.\n"
        "    y: vertical coordinate of the point.\n    factor: how much to stretch both coordinates.\n\nReturns:\n"
        "    The scaled point as a tuple (x, y).")
# Five wordings of GOOD, far enough apart that curation keeps each (a near-duplicate document would be dropped).
OPENINGS = ("Scale a point away from the origin by a factor.", "Stretch a 2D point outward from the origin.",
            "Multiply both coordinates of a point by one common factor.", "Zoom a point relative to the origin.",
            "Magnify a point from the origin by some positive amount.")
ENDINGS = ("The scaled point as a tuple (x, y).", "A new tuple holding the two stretched coordinates.",
           "Both products, horizontal first.", "The zoomed coordinates as a pair.", "A pair with the magnified values.")
BAD = "This helper opens a network socket and downloads the weather forecast, printing it in many colours."
# json.dumps writes a lone surrogate as the escape "\ud800", as a server's JSON encoder may.
DOC_REPLY = GOOD + " \ud800"
SCORE_REPLY = '{"rationale": "Clear \\ud800 enough.", "score": 4}'


def point_task(name: str, body: str, split: str = "train") -> Task:
    return Task(qualname=f"geometry.{name}", kind="function", code=f"def {name}(x, y, factor):\n{body}",
                split=split, reference=REFERENCE)  # type: ignore[arg-type]


def good(task: Task) -> str:
    """GOOD in this task's own wording."""
    n = ["stretch", "grow", "scaled", "dev_zoom", "test_magnify"].index(task.qualname.split(".")[-1])
    return GOOD.replace(OPENINGS[0], OPENINGS[n]).replace(ENDINGS[0], ENDINGS[n])


def judge_and_route(store: Store, generations: list[Generation]) -> None:
    """The offline jury's judgments (verifiers, reference similarity) and the router's decisions, as the loop's."""
    tasks = {t.id: t for t in store.tasks()}
    rows = reference_rows(tasks, generations)  # type: ignore[arg-type]
    for generation in generations:
        rows += verifier_judge.judge(tasks[generation.task_id], generation)
    store.insert("judgments", rows)
    scores = jury_scores(store, [g.id or "" for g in generations])
    store.insert("routes", [decide(g.id or "", scores.get(g.id or ""), RouteConfig()) for g in generations])


class OpenAIServer(ThreadingHTTPServer):
    """A tiny OpenAI-compatible server: /v1/chat/completions answers DOC_REPLY, or SCORE_REPLY to a judge."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), OpenAIHandler)
        self.seen: list[tuple[str, str, str]] = []  # path, Authorization header, served model
        self.lock = threading.Lock()


class OpenAIHandler(BaseHTTPRequestHandler):
    server: OpenAIServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.seen.append((self.path, self.headers.get("Authorization", ""), body["model"]))
        content = json.loads(SCORE_REPLY) if "response_format" in body else None
        reply = chat_completion(body["model"], json.dumps(content) if content else DOC_REPLY, "stop", 12, 30)
        send_json(self, 200, json.dumps(reply).encode())  # ASCII: the surrogate travels as the escape \ud800

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    served = OpenAIServer()
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


def every_text(store: Store) -> str:
    """Every value of every text and JSON column of every table in the store, one per line."""
    with store.connect(read_only=True) as con:
        columns = con.execute("SELECT table_name, column_name FROM information_schema.columns WHERE data_type IN "
                              "('VARCHAR', 'JSON') AND table_schema = 'main'").fetchall()
        assert len({table for table, _ in columns}) >= 8  # the whole schema, not a few tables
        values = [v for table, column in columns
                  for (v,) in con.execute(f'SELECT "{column}"::VARCHAR FROM "{table}"').fetchall() if v is not None]
    return "\n".join(values)


def test_an_api_key_reaches_the_server_and_nothing_else(store: Store, server: OpenAIServer, cli: Cli,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = [point_task("stretch", "    return x * factor, y * factor\n"),
             point_task("grow", "    width = x * factor\n    height = y * factor\n    return width, height\n")]
    store.add_tasks(tasks)
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("COLUMNS", "1000")  # no line of output wrapped, so a secret cannot hide across two lines
    host = f"127.0.0.1:{server.server_port}"
    plain = f"openai:http://{host}/v1#plain"
    signed = f"openai:http://user:{URL_KEY}@{host}/v1?api_key={QUERY_KEY}#signed"
    runs = [cli("--db", str(store.path), "generate", "--model", plain),
            cli("--db", str(store.path), "generate", "--model", signed, "--json")]
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert json.loads(runs[1].stdout)["model"] == f"openai:http://{host}/v1#signed"

    # The env key is the bearer token; a URL's user:password@ is basic auth and its query string goes along.
    basic = "Basic " + base64.b64encode(f"user:{URL_KEY}".encode()).decode()
    assert {(path, auth) for path, auth, model in server.seen} == {
        ("/v1/chat/completions", f"Bearer {ENV_KEY}"), (f"/v1/chat/completions?api_key={QUERY_KEY}", basic)}

    # A reply with a lone surrogate is stored with U+FFFD in its place, none lost.
    stored = store.generations()
    assert len(stored) == 4 and {g.text for g in stored} == {GOOD + " \ufffd"}
    assert {g.model for g in stored} == {f"openai:http://{host}/v1#plain", f"openai:http://{host}/v1#signed"}

    # Judges through the signed URL: an LLM rubric judge that answers, and one whose server is gone (an error row).
    judged = [(next(t for t in tasks if t.id == g.task_id), g) for g in stored]
    rows = rubric.judge(load_backend(signed, GenerationConfig(), tmp_path), judged, criteria=["content_adequacy"]).rows
    dead = ModelSpec("openai", "signed",
                     base_url=f"http://user:{URL_KEY}@127.0.0.1:{free_port()}/v1?api_key={QUERY_KEY}")
    failed = rubric.judge(OpenAIBackend(dead, max_retries=0), judged[:1], criteria=["content_adequacy"]).rows
    assert [r["status"] for r in failed] == ["failed"] and "APIConnectionError" in json.dumps(failed)
    store.insert("judgments", rows + failed)
    judge_and_route(store, stored)
    assert {r["judge_model"] for r in rows} == {f"openai:http://{host}/v1#signed"}
    assert [r["rationale"] for r in rows] == ["Clear \ufffd enough."] * 4  # the reply escaped a lone surrogate

    assert curate_all(store)[0].row_count > 0
    runs.append(cli("--db", str(store.path), "export", "--kind", "sft", "--format", "jsonl", "--out", "sft"))
    assert runs[-1].returncode == 0, runs[-1].stderr
    exported = "\n".join(p.read_text(encoding="utf-8") for p in (tmp_path / "sft").iterdir())
    assert GOOD.splitlines()[0] in exported and "signed" in exported  # rows and the judges' table are there

    for place, text in [("store", every_text(store)), ("export", exported),
                        ("output", "\n".join(r.stdout + r.stderr for r in runs))]:
        assert host in text or place == "export"
        for secret in (ENV_KEY, URL_KEY, QUERY_KEY, "SECRET"):
            assert secret not in text, f"{secret} is in the {place}"


def test_exports_hold_only_train_tasks(store: Store, cli: Cli) -> None:
    train = [point_task("stretch", "    return x * factor, y * factor\n"),
             point_task("grow", "    width = x * factor\n    height = y * factor\n    return width, height\n"),
             point_task("scaled", "    pair = (x, y)\n    return tuple(v * factor for v in pair)\n")]
    held_out = [point_task("dev_zoom", "    if factor < 0:\n        raise ValueError(factor)\n    return [x * factor, "
                           "y * factor]\n", "dev"),
                point_task("test_magnify", "    import math\n    return math.prod((x, factor)), "
                           "math.prod((y, factor))\n", "test")]
    store.add_tasks(train + held_out)
    generations = [Generation(task_id=task.id or "", text=text, model="micro", role=role,  # type: ignore[arg-type]
                              prompt_hash=prompt_hash(document_prompt(task)), sample_index=index)
                   for task in train + held_out
                   for index, (role, text) in enumerate([("student", good(task)), ("student", BAD),
                                                         ("teacher", good(task))])]
    store.add_generations(generations)
    judge_and_route(store, generations)

    assert {info.kind: info.row_count > 0 for info in curate_all(store)} == {"sft": True, "dpo": True, "kd": True}
    for kind in ("sft", "dpo", "kd"):
        done = cli("--db", str(store.path), "export", "--kind", kind, "--format", "jsonl", "--out", kind)
        assert done.returncode == 0, done.stderr
        rows = (store.path.parent / kind / "train.jsonl").read_text(encoding="utf-8").splitlines()
        assert rows
        for row in rows:
            prompt = json.loads(row)["messages" if kind != "dpo" else "prompt"][0]["content"]
            assert not [t.qualname for t in held_out if t.qualname in row or t.code.strip() in prompt], kind
        assert {t.qualname for t in train} == {t.qualname for t in train if any(t.qualname in r for r in rows)}


def test_a_store_never_fetches_a_duckdb_extension(store: Store, cli: Cli, tmp_path: Path) -> None:
    foreign = tmp_path / "notes.duckdb"
    with sqlite3.connect(foreign) as con:
        con.execute("CREATE TABLE notes (text TEXT)")
    with store.connect() as con, pytest.raises(duckdb.CatalogException, match="sqlite_scanner"):
        con.execute(f"SELECT * FROM sqlite_scan('{foreign}', 'notes')")  # autoinstall would download it
    done = cli("--db", str(foreign), "status")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"error: cannot open store {foreign}: it is a SQLite database, not a DuckDB "
                                   "file: pass another --db (nothing was changed)")
