"""The read-model database: SQLite (embedded) or PostgreSQL, behind one small interface.

SQL is written once with `?` placeholders and portable syntax (ON CONFLICT upserts,
recursive CTEs, window functions), which both engines understand.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import psycopg

from registry.config import Settings


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class _PgCursor:
    """psycopg with `?` placeholders, so each statement is written once."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(sql.replace("?", "%s"), params)  # type: ignore[arg-type]

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()


class Database:
    def __init__(self, settings: Settings, *, file_name: str = "readmodels.sqlite") -> None:
        self.dialect = "postgres" if settings.uses_postgres else "sqlite"
        if self.dialect == "postgres":
            pg = settings.postgres()
            self._pg = psycopg.connect(
                host=pg["host"],
                port=pg["port"],
                dbname=pg["dbname"],
                user=pg["user"],
                password=pg["password"] or None,
                autocommit=False,
            )
            if pg["schema"]:
                with self._pg.cursor() as cur:
                    cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{pg["schema"]}"')
                    cur.execute(f'SET search_path TO "{pg["schema"]}"')
                self._pg.commit()
        else:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            path = Path(settings.data_dir) / file_name
            self._sqlite = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        if self.dialect == "postgres":
            with self._pg.cursor() as raw:
                try:
                    yield _PgCursor(raw)
                    self._pg.commit()
                except BaseException:
                    self._pg.rollback()
                    raise
        else:
            cur = self._sqlite.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.transaction() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def close(self) -> None:
        if self.dialect == "postgres":
            self._pg.close()
        else:
            self._sqlite.close()
