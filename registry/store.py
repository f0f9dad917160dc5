"""The event store: an `eventsourcing` application over SQLite or PostgreSQL.

Its recorder is a process recorder, so the events a batch of change requests causes
and the Kafka offset they came from commit in one transaction (tracking records).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import (
    InterfaceError,
    JSONTranscoder,
    OperationalError,
    ProcessRecorder,
    Transcoding,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

from registry.config import Settings


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class BytesAsHex(Transcoding):
    type = bytes
    name = "bytes_hex"

    def encode(self, obj: bytes) -> str:
        return obj.hex()

    def decode(self, data: str) -> bytes:
        return bytes.fromhex(data)


class EventStore(Application):
    """The system of record. Only its repository and recorder are used by the adapters."""

    name = "registry"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        transcoder.register(BytesAsHex())

    def construct_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def existing(self, aggregate_ids: Collection[UUID]) -> set[UUID]:
        """Which of these aggregates have events: one query instead of one failed load
        each (new applicants and new requests are most of what the ingest looks up)."""
        if not aggregate_ids:
            return set()
        recorder = self.recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            statement = SQL(
                "SELECT DISTINCT originator_id FROM {schema}.{table}"
                " WHERE originator_id = ANY(%s) AND originator_version = 1"
            ).format(
                schema=Identifier(recorder.datastore.schema),
                table=Identifier(recorder.events_table_name),
            )
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(statement, (list(aggregate_ids),))
                return {_uuid(row["originator_id"]) for row in cursor.fetchall()}
        assert isinstance(recorder, SQLiteApplicationRecorder)
        ids = [a.hex for a in aggregate_ids]
        marks = ",".join("?" * len(ids))
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT DISTINCT originator_id FROM {recorder.events_table_name}"
                f" WHERE originator_version = 1 AND originator_id IN ({marks})",
                ids,
            )
            return {_uuid(row[0]) for row in cursor.fetchall()}


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


# What a loop treats as "the event store is away for now": retry, do not die.
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


def store_environment(settings: Settings) -> dict[str, str]:
    _, cipher_key = settings.keys()
    env: dict[str, str] = {
        # AES-GCM through OpenSSL (the `cryptography` package): ~4 µs per event where
        # PyCryptodome's took ~70 µs and was half of the relay's time.
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": cipher_key,
        # Aggregates a batch loaded stay cached; the next load reads only the events
        # recorded since (fast-forward), so an organisation's tally or a member is not
        # replayed from its first event for every batch. Loads return copies, so a batch
        # that fails to save leaves the cache as it was.
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
    }
    if settings.uses_postgres:
        pg = settings.postgres()
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=pg["dbname"],
            POSTGRES_HOST=pg["host"],
            POSTGRES_PORT=pg["port"],
            POSTGRES_USER=pg["user"],
            POSTGRES_PASSWORD=pg["password"],
            POSTGRES_POOL_SIZE="4",
            # A pooled connection is checked before use, so one broken by a database
            # restart is replaced instead of failing the next transaction.
            POSTGRES_PRE_PING="y",
        )
        if pg["schema"]:
            env["POSTGRES_SCHEMA"] = pg["schema"]
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite",
            SQLITE_DBNAME=str(settings.data_dir / "events.sqlite"),
            SQLITE_LOCK_TIMEOUT="30",
        )
    return env


def open_event_store(settings: Settings, **extra: Any) -> EventStore:
    if settings.uses_postgres:
        _create_schema(settings)
    return EventStore(env={**store_environment(settings), **extra})


def _create_schema(settings: Settings) -> None:
    """eventsourcing creates its tables but not the schema they live in."""
    pg = settings.postgres()
    if not pg["schema"]:
        return
    with psycopg.connect(
        host=pg["host"],
        port=pg["port"],
        dbname=pg["dbname"],
        user=pg["user"],
        password=pg["password"] or None,
        autocommit=True,
    ) as conn:
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(pg["schema"])))
