"""A fresh PostgreSQL schema and a local broker per benchmark, both gone afterwards."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from registry.broker import LocalBroker
from registry.config import Settings

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
MEMBER_ID_KEY = "be" * 32
CIPHER_KEY = "w3Xh3Q0o8ho4GmSxYbGPGcLw0p2SaS0Rx4Jf7D1Ojq8="
PARTITIONS = 4


@dataclass(frozen=True)
class Env:
    settings: Settings
    schema: str
    broker: LocalBroker | None


def connect(schema: str | None = None) -> psycopg.Connection[Any]:
    """An autocommit connection, with the search path on `schema` when given."""
    conn = psycopg.connect(DATABASE_URL, autocommit=True)
    if schema:
        conn.execute(f'SET search_path TO "{schema}"')
    return conn


@contextmanager
def bench_env(*, with_broker: bool = True, **extra: Any) -> Iterator[Env]:
    """Settings on a new schema `bench_<random>` (and a new broker), dropped on exit;
    `extra` settings replace the benchmark's own (`partitions`, say)."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    data_dir = Path(tempfile.mkdtemp(prefix=f"{schema}_"))
    with connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    broker = LocalBroker(log_file=data_dir / "broker.log").start() if with_broker else None
    separator = "&" if "?" in DATABASE_URL else "?"
    try:
        settings = Settings(
            data_dir=data_dir,
            database_url=f"{DATABASE_URL}{separator}schema={schema}",
            kafka_bootstrap=broker.bootstrap if broker else "127.0.0.1:9",
            **{"partitions": PARTITIONS, "member_id_key": MEMBER_ID_KEY,
               "cipher_key": CIPHER_KEY, **extra},
        )
        yield Env(settings, schema, broker)
    finally:
        if broker is not None:
            broker.stop()
        drop_schema(schema)
        shutil.rmtree(data_dir, ignore_errors=True)


def drop_schema(schema: str) -> None:
    with connect() as conn:
        # Connections a failed stage left behind must not hold the drop up for long.
        conn.execute("SET lock_timeout = '20s'")
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def uptimes_s() -> dict[str, float]:
    """How long the machine and the PostgreSQL server have been up, in seconds, to read a
    run beside others: in session 16 three harness runs within 90 minutes of one boot
    differed by a quarter to a half in the database-bound stages and by 2-4x in the
    end-to-end tail, the fastest ten minutes after the server had been restarted, the
    next one ten minutes later in between (BENCHMARKS.md)."""
    with connect() as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM now() - pg_postmaster_start_time())"
        ).fetchone()
    uptimes = {"postgres": round(float(row[0]), 1) if row else float("nan")}
    try:
        with open("/proc/uptime") as uptime:
            uptimes["machine"] = round(float(uptime.read().split()[0]), 1)
    except OSError:
        pass  # not Linux
    return uptimes
