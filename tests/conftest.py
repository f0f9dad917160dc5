"""Fixtures shared by the tests: a real Tansu broker and a real database, and a check that
no test leaves a Kafka client open.

PostgreSQL comes from DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test);
each test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from registry.broker import LocalBroker
from registry.config import Settings

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _kafka_io_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("kafka-io-")}


@pytest.fixture(autouse=True)
def kafka_clients_closed() -> Iterator[None]:
    """Every kafka-python client a test opens is closed by its end. One left open keeps
    its IO thread reconnecting to a broker that is gone, through the tests after it
    (seen: a projector's idle-guard reader, found by Hypothesis warning of the `random`
    draws of its reconnect jitter in a later, unrelated test)."""
    before = _kafka_io_threads()
    yield
    deadline = time.monotonic() + 5.0  # a client closed last may still be stopping
    while (left := _kafka_io_threads() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left:
        pytest.fail(f"kafka-python clients left open by the test: {sorted(t.name for t in left)}")


@pytest.fixture
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as running:
        yield running


@pytest.fixture
def pg_schema() -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield schema
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def make_settings(
    tmp_path: Path, broker: LocalBroker, pg_schema: str | None, **extra: object
) -> Settings:
    database_url = None
    if pg_schema is not None:
        separator = "&" if "?" in DATABASE_URL else "?"
        database_url = f"{DATABASE_URL}{separator}schema={pg_schema}"
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        kafka_bootstrap=broker.bootstrap,
        partitions=3,
        member_id_key="ab" * 32,
        cipher_key="w3Xh3Q0o8ho4GmSxYbGPGcLw0p2SaS0Rx4Jf7D1Ojq8=",
        **extra,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, broker: LocalBroker) -> Settings:
    """The same test on the embedded default (SQLite) and on PostgreSQL."""
    schema = request.getfixturevalue("pg_schema") if request.param == "postgres" else None
    return make_settings(tmp_path, broker, schema)
