"""The read-model database: SQLite (embedded) or PostgreSQL, behind one small interface.

SQL is written once with `?` placeholders and portable syntax (ON CONFLICT upserts,
recursive CTEs, window functions), which both engines understand.

Generations: the read models can be rebuilt from Kafka into a fresh set of tables while
the live set keeps answering (`registry rebuild`). Generation 0 is the plain `rm_*`
tables; generation N is `gN_rm_*`, in the same schema or file. One pointer row,
`registry_live_generation`, names the live generation; every transaction reads it once
and rewrites `rm_` table names to that generation's prefix, so the SQL in the query and
apply modules stays unaware of generations and the switch is a single-row update.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol

import psycopg

from registry.config import Settings

POINTER_TABLE = "registry_live_generation"
# `\b` does not match between `_` and `r`, so `g2_rm_x` is never rewritten again: SQL
# that names another generation's table explicitly (the switch-over check) stays as is.
_TABLE_NAME = re.compile(r"\brm_")
_RETURNS_ROWS = re.compile(r"^\s*(SELECT|WITH|VALUES|SHOW|EXPLAIN)\b|\bRETURNING\b", re.IGNORECASE)


# What a loop treats as "the read-model database is away for now": retry, do not die.
# (Not SQLite's OperationalError: it also means a wrong statement, which must surface;
# SQLite's own waits cover its locks.)
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
# A transaction the server rolled back because it crossed another one (a deadlock, a
# serialization failure): doing it again at once is the remedy. (They are also
# OperationalErrors, so a loop that does not catch them first waits as for an outage.)
TRANSACTION_CONFLICT: tuple[type[Exception], ...] = (psycopg.errors.TransactionRollback,)
# A row whose key is there already (SQLite reports it as its IntegrityError).
UNIQUE_VIOLATION: tuple[type[Exception], ...] = (
    psycopg.errors.UniqueViolation,
    sqlite3.IntegrityError,
)


def prefix(generation: int) -> str:
    return "" if generation == 0 else f"g{generation}_"


def table_name(name: str, generation: int) -> str:
    """`rm_members` of a given generation, for SQL that spans two generations."""
    return prefix(generation) + name


class Cursor(Protocol):
    generation: int
    postgres: bool
    # Work to run once, the next time the server is busy with rows sent and the caller
    # would otherwise only wait for it (row_writer, PostgreSQL); None: nothing queued.
    meanwhile: Callable[[], None] | None

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...
    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None: ...
    def row_writer(
        self, table: str, columns: Sequence[str]
    ) -> AbstractContextManager[Callable[[Sequence[Any]], None]]: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class _Cursor:
    """One engine's cursor with `?` placeholders and the generation's table names."""

    def __init__(self, raw: Any, *, postgres: bool, generation: int = 0) -> None:
        self._raw = raw
        self._last = raw  # the cursor whose rows fetch*() returns
        self._postgres = postgres
        self.postgres = postgres
        self.generation = generation
        self.meanwhile: Callable[[], None] | None = None

    def _cursor_for(self, sql: str) -> Any:
        # In pipeline mode a psycopg cursor that ran several statements can hand back
        # the result of an earlier one (seen: fetchall() after executemany() answering
        # "INSERT 0 1"); a statement whose rows are read gets a cursor of its own.
        if self._postgres and _RETURNS_ROWS.search(sql):
            self._last = self._raw.connection.cursor()
        else:
            self._last = self._raw
        return self._last

    def _sql(self, sql: str) -> str:
        if self.generation:
            sql = _TABLE_NAME.sub(prefix(self.generation) + "rm_", sql)
        return sql.replace("?", "%s") if self._postgres else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor_for(sql).execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        self._last = self._raw
        return self._raw.executemany(self._sql(sql), [tuple(p) for p in params])

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Plain inserts of many rows (see row_writer)."""
        if rows:
            with self.row_writer(table, columns) as write:
                for row in rows:
                    write(row)

    @contextmanager
    def row_writer(
        self, table: str, columns: Sequence[str]
    ) -> Iterator[Callable[[Sequence[Any]], None]]:
        """Plain inserts of the rows given to the function yielded: one COPY on
        PostgreSQL (a fraction of the server and client work of as many INSERTs; not
        allowed in pipeline mode), executemany on SQLite. No ON CONFLICT: only for rows
        that cannot be there yet.

        On PostgreSQL the rows stream: the server inserts each 32 kB sent while the
        caller works out the next rows, so work done between the calls overlaps the
        server's (the two run on separate cores). Work queued in `meanwhile` runs after
        the last row is given, while the server is still inserting, before the wait for
        the end of the COPY."""
        names = ", ".join(columns)
        self._last = self._raw
        if not self._postgres:
            rows: list[Sequence[Any]] = []
            yield rows.append
            if rows:
                marks = ", ".join("?" * len(columns))
                self._raw.executemany(
                    self._sql(f"INSERT INTO {table} ({names}) VALUES ({marks})"), rows
                )
            return
        with self._raw.copy(self._sql(f"COPY {table} ({names}) FROM STDIN")) as copy:
            yield copy.write_row
            if self.meanwhile is not None:
                work, self.meanwhile = self.meanwhile, None
                work()

    def fetchone(self) -> Any:
        return self._last.fetchone()

    def fetchall(self) -> list[Any]:
        return self._last.fetchall()


class Database:
    def __init__(self, settings: Settings, *, file_name: str = "readmodels.sqlite") -> None:
        self.dialect = "postgres" if settings.uses_postgres else "sqlite"
        # One connection, one transaction at a time: the projector thread and queries
        # from another thread (the demo, the API) would otherwise interleave statements
        # of two transactions on it.
        self._lock = threading.RLock()
        self._settings = settings
        if self.dialect == "postgres":
            self._pg = self._connect_postgres()
        else:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            path = Path(settings.data_dir) / file_name
            self._sqlite = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("PRAGMA synchronous=NORMAL")
        self._ensure_pointer()

    def _connect_postgres(self) -> psycopg.Connection[Any]:
        pg = self._settings.postgres()
        connection = psycopg.connect(
            **self._settings.postgres_connect_args(), autocommit=False, connect_timeout=10
        )
        with connection.cursor() as cur:
            # As SQLite's synchronous=NORMAL above: a commit does not wait for the WAL to
            # reach the disk. Every row here is derived from the topics, and a read
            # model's offsets are written in the same transaction as its rows, so a
            # server crash loses its last transactions whole (PostgreSQL replays the WAL
            # in commit order), and they are read from the topics again; nothing is half
            # applied or applied twice. The event store keeps full durability (its
            # commits are what outcomes promise).
            cur.execute("SET synchronous_commit = off")
            if pg["schema"]:
                cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{pg["schema"]}"')
                cur.execute(f'SET search_path TO "{pg["schema"]}"')
        connection.commit()
        return connection

    def _ensure_pointer(self) -> None:
        with self.transaction(generation=0) as cur:
            self.lock_ddl(cur)
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {POINTER_TABLE} ("
                " id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL)"
            )
            cur.execute(
                f"INSERT INTO {POINTER_TABLE} (id, generation) VALUES (1, 0)"
                " ON CONFLICT (id) DO NOTHING"
            )

    def lock_ddl(self, cur: Cursor) -> None:
        """Serialises the read models' CREATE ... IF NOT EXISTS statements across
        processes until the transaction ends: PostgreSQL does not make them safe against
        each other, and the loops, started together on a fresh database, failed with
        "duplicate key value violates unique constraint pg_type_typname_nsp_index"
        (seen: a loop's process died at start). SQLite takes one writer at a time."""
        if self.dialect == "postgres":
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('registry.read-models.ddl'))")

    @contextmanager
    def transaction(
        self,
        *,
        generation: int | None = None,
        pointer_lock: str | None = None,
        pipeline: bool = False,
    ) -> Iterator[Cursor]:
        """One transaction on one generation's tables (default: the live one).

        `pointer_lock` ("SHARE" or "UPDATE", PostgreSQL only; SQLite serialises writers
        anyway) holds the pointer row, so writers to the live generation and the
        switch-over of a rebuild exclude each other. `pipeline` (PostgreSQL) sends
        statements without waiting for each answer until a result is read: a projector's
        batch then costs a few round trips instead of several per event.
        """
        with self._lock:
            if self.dialect == "postgres":
                if self._pg.closed or self._pg.broken:
                    # The server restarted (or the network dropped): a new connection;
                    # the transaction that failed was rolled back with the old one.
                    self._pg = self._connect_postgres()
                with self._pipeline(pipeline), self._pg.cursor() as raw:
                    cur = _Cursor(raw, postgres=True)
                    try:
                        if generation is None:
                            cur.generation = self._read_pointer(cur, pointer_lock)
                        else:
                            cur.generation = generation
                        yield cur
                        self._pg.commit()
                    except BaseException:
                        self._pg.rollback()
                        raise
            else:
                raw = self._sqlite.cursor()
                raw.execute("BEGIN IMMEDIATE")
                cur = _Cursor(raw, postgres=False)
                try:
                    if generation is None:
                        cur.generation = self._read_pointer(cur, None)
                    else:
                        cur.generation = generation
                    yield cur
                    raw.execute("COMMIT")
                except BaseException:
                    raw.execute("ROLLBACK")
                    raise
                finally:
                    raw.close()

    def _pipeline(self, wanted: bool) -> AbstractContextManager[Any]:
        return self._pg.pipeline() if wanted else nullcontext()

    @staticmethod
    def _read_pointer(cur: _Cursor, lock: str | None) -> int:
        suffix = f" FOR {lock}" if lock else ""
        cur.execute(f"SELECT generation FROM {POINTER_TABLE} WHERE id = 1{suffix}")
        row = cur.fetchone()
        return int(row[0]) if row else 0

    def live_generation(self) -> int:
        with self.transaction(generation=0) as cur:
            return self._read_pointer(cur, None)  # type: ignore[arg-type]

    def query(
        self, sql: str, params: Sequence[Any] = (), *, generation: int | None = None
    ) -> list[Any]:
        with self.transaction(generation=generation) as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def close(self) -> None:
        if self.dialect == "postgres":
            self._pg.close()
        else:
            self._sqlite.close()
