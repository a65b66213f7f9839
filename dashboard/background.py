"""Slow statistics (bootstrap intervals) computed off the page's thread, so a page renders at once.

A page asks for `result(fn, *args)`: the answer when it is ready, else None (the job is queued) and the
page shows what it has (point estimates). Drawn, it calls `rerun_when_ready(True)`: the queued jobs start
in one worker thread, and a fragment polls each second and reruns the page once every job has finished.
Results are kept per (function, arguments): coming back to the same labels costs nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

T = TypeVar("T")
KEEP = 64  # finished results kept, most recently used first

_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-stats")
_jobs: OrderedDict[str, Future[Any]] = OrderedDict()
_queued: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {}  # asked for, started once the page is drawn
_lock = threading.Lock()


def _key(fn: Callable[..., Any], args: tuple[Any, ...]) -> str:
    digest = hashlib.sha256(f"{fn.__module__}.{fn.__qualname__}".encode())
    for arg in args:
        if isinstance(arg, pd.DataFrame):
            digest.update(repr((list(arg.columns), arg.shape)).encode())
            digest.update(pd.util.hash_pandas_object(arg, index=False).to_numpy().tobytes())
        else:
            digest.update(repr(arg).encode())
    return digest.hexdigest()


def result(fn: Callable[..., T], *args: Any) -> T | None:
    """fn(*args) if it has finished in the background, else None (queueing it if it is not running).

    An exception raised by `fn` is raised here, once it has finished.
    """
    key = _key(fn, args)
    with _lock:
        job = _jobs.get(key)
        if job is None:
            _queued.setdefault(key, (fn, args))
            return None
        _jobs.move_to_end(key)
    return job.result() if job.done() else None


def start_queued() -> None:
    """Start the queued jobs; a page calls it once drawn, so its own rendering does not compete with them."""
    with _lock:
        for key, (fn, args) in _queued.items():
            if key not in _jobs:
                _jobs[key] = _pool.submit(fn, *args)
        _queued.clear()
        finished = [key for key, job in _jobs.items() if job.done()]
        for old in finished[:max(0, len(_jobs) - KEEP)]:
            del _jobs[old]


def pending() -> bool:
    with _lock:
        return bool(_queued) or any(not job.done() for job in _jobs.values())


def wait(timeout_s: float = 60.0) -> None:
    """Start what is queued and block until every job has finished (for tests and the benchmark)."""
    start_queued()
    with _lock:
        jobs = list(_jobs.values())
    for job in jobs:
        job.exception(timeout=timeout_s)


def rerun_when_ready(waiting: bool) -> None:
    """When the page drew something without its result (`waiting`), start the queued jobs, poll once a
    second and rerun the whole page when none is left."""
    if not waiting:
        return
    start_queued()

    @st.fragment(run_every=1.0)
    def _poll() -> None:
        if not pending():
            st.rerun(scope="app")
        st.caption("Computing bootstrap intervals ...")

    _poll()
