"""Bulk writes: 1M judgment rows through Store.insert vs DuckDB's raw Arrow insert, in one run.

Target: store / raw <= 2x. The store pays for idempotency (an anti-join on the content-hash id).
Run: .venv/bin/python bench/store.py [--rows N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from docflywheel.records import content_id
from docflywheel.store import Store


def judgments(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = [content_id("bench", i) for i in range(rows)]
    return pa.table({
        "id": ids,
        "generation_id": [ids[i // 10] for i in range(rows)],
        "judge_kind": ["rubric"] * rows,
        "judge_model": ["tiny"] * rows,
        "judge_prompt_hash": ["p0"] * rows,
        "judge_version": ["1"] * rows,
        "criterion": rng.choice(["content_adequacy", "conciseness", "fluency"], rows),
        "score": rng.integers(1, 6, rows).astype("float64"),
        "rationale": ["because"] * rows,
        "status": ["ok"] * rows,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    batch = judgments(args.rows)
    with tempfile.TemporaryDirectory() as folder:
        raw_path, store_path = Path(folder) / "raw.duckdb", Path(folder) / "store.duckdb"
        store = Store(store_path)
        store.init()
        Store(raw_path).init()

        started = time.perf_counter()
        con = duckdb.connect(str(raw_path))
        con.register("batch", batch)
        names = ", ".join(batch.column_names)
        con.execute(f"INSERT INTO judgments ({names}) SELECT {names} FROM batch").fetchall()
        con.close()
        raw_s = time.perf_counter() - started

        started = time.perf_counter()
        added = store.insert("judgments", batch)
        store_s = time.perf_counter() - started

        started = time.perf_counter()
        again = store.insert("judgments", batch)
        repeat_s = time.perf_counter() - started

    assert added == args.rows and again == 0
    print(f"rows: {args.rows:,}")
    print(f"raw DuckDB Arrow insert: {raw_s:.2f} s ({args.rows / raw_s:,.0f} rows/s)")
    print(f"Store.insert (idempotent): {store_s:.2f} s ({args.rows / store_s:,.0f} rows/s)")
    print(f"ratio store / raw: {store_s / raw_s:.2f}x (target <= 2x)")
    print(f"rewriting the same rows (all skipped): {repeat_s:.2f} s, {repeat_s / raw_s:.2f}x raw")


if __name__ == "__main__":
    main()
