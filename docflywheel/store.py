"""The DuckDB store: the only module that knows SQL, the schema and its migrations.

DuckDB lets one process write a file at a time, so every call opens a short-lived connection and
retries while another process holds the lock (see FINDINGS.md: "DuckDB across processes").
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from docflywheel.errors import StoreBusy, StoreError
from docflywheel.records import Generation, Task

_MIGRATION_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_JSON_COLUMNS = {"sampling", "evidence", "filter", "data", "config", "metrics"}


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every file in docflywheel/migrations, in order."""
    found = []
    for entry in resources.files("docflywheel.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found)


def latest_version() -> int:
    return migrations()[-1][0]


def _is_lock_error(error: Exception) -> bool:
    text = str(error)
    return "Could not set lock" in text or "Conflicting lock" in text


class Store:
    """A DuckDB file holding tasks, generations, judgments and everything the flywheel records."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s

    # -- connections -----------------------------------------------------------------------

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; waits up to `busy_timeout_s` while another process writes."""
        if read_only and not self.path.exists():
            raise StoreError(f"no store at {self.path}: run `docflywheel init --db {self.path}` first")
        deadline = time.monotonic() + self.busy_timeout_s
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as error:
                if not _is_lock_error(error):
                    raise self._open_error(error) from error
                if time.monotonic() >= deadline:
                    holder = re.search(r"PID (\d+)", str(error))
                    who = f"process {holder.group(1)}" if holder else "another process"
                    raise StoreBusy(
                        f"store {self.path} is busy: {who} has held its write lock for "
                        f"{self.busy_timeout_s:.0f} s; wait for it to finish or raise store.busy_timeout_s"
                    ) from error
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            except duckdb.Error as error:
                raise self._open_error(error) from error
        try:
            yield con
        finally:
            con.close()

    def _open_error(self, error: Exception) -> StoreError:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return StoreError(
            f"cannot open store {self.path} ({first_line}); it may be corrupt or not a DuckDB file: "
            "restore it from a copy or pass another --db (nothing was changed)"
        )

    # -- schema ----------------------------------------------------------------------------

    def version(self) -> int:
        """The schema version of the store; 0 for a file with no schema yet."""
        if not self.path.exists():
            return 0
        with self.connect(read_only=True) as con:
            return self._version(con)

    @staticmethod
    def _version(con: duckdb.DuckDBPyConnection) -> int:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        ).fetchone()[0]
        if not exists:
            return 0
        return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]

    def init(self) -> tuple[int, int]:
        """Create or migrate the store; returns (version before, version after)."""
        if self.path.exists() and self.path.stat().st_size > 0 and not _looks_like_duckdb(self.path):
            raise StoreError(
                f"{self.path} exists but is not a DuckDB store; move it away or pass another --db "
                "(nothing was changed)"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as con:
            before = self._version(con)
            if before > latest_version():
                raise StoreError(
                    f"store {self.path} is at schema version {before}, newer than this docflywheel "
                    f"knows ({latest_version()}); upgrade docflywheel"
                )
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL, "
                "name VARCHAR NOT NULL, applied_at TIMESTAMP DEFAULT current_timestamp)"
            )
            for version, name, sql in migrations():
                if version <= before:
                    continue
                con.execute("BEGIN TRANSACTION")
                try:
                    con.execute(sql)
                    con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                                [version, name]).fetchall()
                    con.execute("COMMIT")
                except Exception:
                    con.execute("ROLLBACK")
                    raise
            return before, self._version(con)

    def _require_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        version = self._version(con)
        if version != latest_version():
            raise StoreError(
                f"store {self.path} is at schema version {version}, expected {latest_version()}: "
                f"run `docflywheel init --db {self.path}`"
            )

    # -- generic writes and reads ----------------------------------------------------------

    def insert(self, table: str, rows: Sequence[dict[str, Any]] | pa.Table) -> int:
        """Add rows whose id is not stored yet, in one Arrow batch; returns how many were new."""
        batch = rows if isinstance(rows, pa.Table) else _to_arrow(rows)
        if batch.num_rows == 0:
            return 0
        with self.connect() as con:
            self._require_schema(con)
            return self._insert(con, table, batch)

    @staticmethod
    def _insert(con: duckdb.DuckDBPyConnection, table: str, batch: pa.Table) -> int:
        columns = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
        unknown = [name for name in batch.column_names if name not in columns]
        if unknown:
            raise StoreError(f"table {table} has no column(s) {', '.join(unknown)}")
        names = ", ".join(batch.column_names)
        con.register("incoming", batch)
        try:
            return con.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM "
                f"(SELECT DISTINCT ON (id) {names} FROM incoming) AS b "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE t.id = b.id)"
            ).fetchone()[0]
        finally:
            con.unregister("incoming")

    def update(self, table: str, row_id: str, values: dict[str, Any]) -> None:
        """Change some columns of one stored row (a training run's status and metrics, say)."""
        if not values:
            return
        prepared = _to_arrow([values]).to_pylist()[0]
        assignments = ", ".join(f"{name} = ?" for name in prepared)
        with self.connect() as con:
            self._require_schema(con)
            con.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", [*prepared.values(), row_id])

    def select(self, table: str, *, order_by: str = "id", limit: int | None = None,
               **filters: Any) -> list[dict[str, Any]]:
        """Rows of any table matching equality filters (`ids`, `task_ids` and `kinds` match any member)."""
        where, params = _where(**filters)
        sql = f"SELECT * FROM {table} {where} ORDER BY {order_by}"
        return self._rows(sql + (f" LIMIT {int(limit)}" if limit is not None else ""), params)

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with self.connect(read_only=True) as con:
            self._require_schema(con)
            tables = [row[0] for row in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_name <> 'schema_migrations' ORDER BY table_name").fetchall()]
            return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in tables}

    def digest(self, table: str) -> list[str]:
        """Sorted ids of a table: two stores with the same digest hold the same rows."""
        with self.connect(read_only=True) as con:
            return [row[0] for row in con.execute(f"SELECT id FROM {table} ORDER BY id").fetchall()]

    # -- tasks -----------------------------------------------------------------------------

    def add_tasks(self, tasks: Sequence[Task]) -> int:
        return self.insert("tasks", [task.model_dump() for task in tasks])

    def tasks(self, split: str | None = None, kinds: Sequence[str] | None = None,
              limit: int | None = None, ids: Sequence[str] | None = None) -> list[Task]:
        """Tasks in a stable order (qualname, id), optionally filtered."""
        where, params = _where(split=split, kinds=kinds, ids=ids)
        sql = (f"SELECT {', '.join(Task.model_fields)} FROM tasks {where} ORDER BY qualname, id"
               + (f" LIMIT {int(limit)}" if limit is not None else ""))
        with self.connect(read_only=True) as con:
            self._require_schema(con)
            cursor = con.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [Task(**dict(zip(names, row))) for row in cursor.fetchall()]

    def task_counts(self) -> list[tuple[str, str, int]]:
        """(kind, split, count) for every kind and split present."""
        with self.connect(read_only=True) as con:
            self._require_schema(con)
            return con.execute(
                "SELECT kind, split, count(*) FROM tasks GROUP BY kind, split ORDER BY kind, split"
            ).fetchall()

    # -- generations -----------------------------------------------------------------------

    def add_generations(self, generations: Sequence[Generation]) -> int:
        return self.insert("generations", [g.model_dump() for g in generations])

    def generations(self, task_ids: Sequence[str] | None = None, model: str | None = None,
                    role: str | None = None, ids: Sequence[str] | None = None) -> list[Generation]:
        where, params = _where(task_ids=task_ids, model=model, role=role, ids=ids)
        with self.connect(read_only=True) as con:
            self._require_schema(con)
            cursor = con.execute(
                f"SELECT {', '.join(Generation.model_fields)} FROM generations {where} "
                "ORDER BY task_id, sample_index, id", params)
            names = [d[0] for d in cursor.description]
            rows = []
            for row in cursor.fetchall():
                record = dict(zip(names, row))
                record["sampling"] = json.loads(record["sampling"]) if record["sampling"] else {}
                rows.append(Generation(**record))
            return rows

    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are already stored in `table` (so a resumed run skips them)."""
        if not ids:
            return set()
        with self.connect(read_only=True) as con:
            con.register("wanted", pa.table({"id": list(ids)}))
            return {row[0] for row in con.execute(
                f"SELECT t.id FROM {table} AS t JOIN wanted USING (id)").fetchall()}

    # -- critiques and judgments -------------------------------------------------------------

    def critiques(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Critique rows by id, in the order asked."""
        rows = self._rows("SELECT * FROM critiques WHERE list_contains(?, id)", [list(ids)])
        by_id = {row["id"]: row for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def judgments_for(self, generation_ids: Sequence[str], judge_kind: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Judgment rows grouped by the generation they judge."""
        sql = "SELECT * FROM judgments WHERE list_contains(?, generation_id)"
        params: list[Any] = [list(generation_ids)]
        if judge_kind:
            sql += " AND judge_kind = ?"
            params.append(judge_kind)
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in self._rows(sql + " ORDER BY generation_id, criterion, id", params):
            grouped.setdefault(row["generation_id"], []).append(row)
        return grouped

    def judged_ids(self, generation_ids: Sequence[str], judge_kind: str) -> set[str]:
        """Which generations already have a judgment of this kind."""
        rows = self._rows("SELECT DISTINCT generation_id FROM judgments WHERE judge_kind = ? "
                          "AND list_contains(?, generation_id)", [judge_kind, list(generation_ids)])
        return {row["generation_id"] for row in rows}

    def labels_for(self, generation_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Human label rows (labelled or skipped) grouped by the generation they are about."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in self._rows("SELECT * FROM human_labels WHERE list_contains(?, generation_id) "
                              "ORDER BY generation_id, created_at, id", [list(generation_ids)]):
            grouped.setdefault(row["generation_id"], []).append(row)
        return grouped

    def routes(self, generation_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM routes", []
        if generation_ids is not None:
            sql, params = sql + " WHERE list_contains(?, generation_id)", [list(generation_ids)]
        return self._rows(sql + " ORDER BY generation_id, id", params)

    def review_queue(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Generations routed to review that no person has labelled or skipped yet, oldest first."""
        sql = ("SELECT r.generation_id, r.reason, r.score, r.spread, r.created_at FROM routes r "
               "WHERE r.decision = 'review' AND NOT EXISTS "
               "(SELECT 1 FROM human_labels h WHERE h.generation_id = r.generation_id) "
               "ORDER BY r.created_at, r.generation_id")
        return self._rows(sql + (f" LIMIT {int(limit)}" if limit is not None else ""), [])

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        with self.connect(read_only=True) as con:
            self._require_schema(con)
            cursor = con.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]


_LIST_FILTERS = {"ids": "id", "task_ids": "task_id", "kinds": "kind"}


def _where(**filters: Any) -> tuple[str, list[Any]]:
    """A WHERE clause: list filters (ids, task_ids, kinds) match any member, the others match equal.

    None (and an empty `kinds` or value) means no filter; an empty `ids` or `task_ids` matches nothing.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for name, value in filters.items():
        if value is None or (not value and name not in ("ids", "task_ids")):
            continue
        if name in _LIST_FILTERS:
            clauses.append(f"list_contains(?, {_LIST_FILTERS[name]})")
            params.append(list(value))
        else:
            clauses.append(f"{name} = ?")
            params.append(value)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _to_arrow(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows as an Arrow table; dict and list values of JSON columns become JSON text."""
    prepared = [
        {key: (json.dumps(value, sort_keys=True, default=str)
               if key in _JSON_COLUMNS and value is not None and not isinstance(value, str) else value)
         for key, value in row.items()}
        for row in rows
    ]
    return pa.Table.from_pylist(prepared)


def _looks_like_duckdb(path: Path) -> bool:
    with open(path, "rb") as handle:
        header = handle.read(16)
    return header[8:12] == b"DUCK"

