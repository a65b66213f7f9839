"""Load: real tasks through generation and judging against a real vLLM server that fails on purpose.

The full run (10,000 tasks, the tiny model, throughput and memory over the run) is `bench/reliability.py --only load`;
this one runs 240 tasks on the session's micro server with faults dense enough that every kind happens.
"""

from __future__ import annotations

from pathlib import Path

from load import FaultPlan, load_run

from docflywheel.models.vllm_server import VLLMServer
from docflywheel.store import Store


def test_server_failures_are_retried_counted_and_never_lose_a_task(vllm_server: VLLMServer, tmp_path: Path) -> None:
    plan = FaultPlan(every_503=11, every_dropped=17, every_timeout=97)
    figures = load_run(tmp_path / "load.duckdb", vllm_server.base_url, "micro", tasks=240, windows=3, concurrency=8,
                       plan=plan, timeout_s=8.0, server_pid=vllm_server.process.pid, max_new_tokens=24)
    # Each kind of fault happened, and each was answered by a retry, not an error.
    assert all(count > 0 for count in figures.faults_injected.values()), figures.faults_injected
    assert figures.retries >= sum(figures.faults_injected.values())
    assert (figures.requests_failed, figures.generations_failed) == (0, 0)
    # Every task has its document and its judgment (read or recorded as unreadable); nothing twice.
    assert (figures.generations_stored, figures.judgments_stored) == (240, 240)
    with Store(tmp_path / "load.duckdb").connect(read_only=True) as db:
        assert db.execute("select count(distinct task_id) from generations").fetchone() == (240,)
        assert db.execute("select count(*) from judgments j left join generations g on g.id = j.generation_id "
                      "where g.id is null").fetchone() == (0,)
        unreadable = db.execute("select count(*) from judgments where status = 'failed'").fetchone()
    assert unreadable == (figures.judgments_unreadable,)
    assert [w.tasks for w in figures.windows] == [80, 80, 80]
    assert all(w.server_rss_mb > 0 and w.client_rss_mb > 0 for w in figures.windows)
