"""Fixtures shared by the integration tests: a real Tansu broker and a real database.

PostgreSQL comes from DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test);
each test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from registry.broker import LocalBroker
from registry.config import Settings

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


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
