"""Planner statistics kept for fresh read-model tables (PostgreSQL): a table that grew
past the threshold is analyzed once, and again only after it grew by half."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from projections.apply.bulk import insert_keys
from projections.database import Database
from projections.planner_statistics import (
    MIN_ROWS,
    SAMPLE_TARGET,
    StatisticsKeeper,
    analyze_stale_tables,
)
from projections.tables import create_tables
from registry.config import Settings
from tests.conftest import DATABASE_URL


@pytest.fixture(name="settings")
def settings_fixture(pg_schema: str, tmp_path: Path) -> Settings:
    url = f"{DATABASE_URL}{'&' if '?' in DATABASE_URL else '?'}schema={pg_schema}"
    return Settings(data_dir=tmp_path / "data", database_url=url)


@pytest.fixture(name="pg")
def pg_fixture(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    create_tables(database)
    yield database
    database.close()


def _add_versions(db: Database, start: int, count: int, generation: int | None = None) -> None:
    with db.transaction(generation=generation) as cur:
        # Autovacuum analyzing the table meanwhile would make the keeper's answers vary.
        cur.execute("ALTER TABLE rm_versions SET (autovacuum_enabled = false)")
        insert_keys(cur, "rm_versions", "aggregate_id", "version",
                    [(f"a{i:08d}", 1) for i in range(start, start + count)])  # fmt: skip
        # The server counts a transaction's rows for pg_stat_user_tables a little later.
        cur.execute("SELECT pg_stat_force_next_flush()")


def _eventually(check: Callable[[], list[str]], timeout_s: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _analyzed(db: Database, table: str) -> bool:
    rows = db.query("SELECT greatest(last_analyze, last_autoanalyze) IS NOT NULL"
                    f" FROM pg_stat_user_tables WHERE schemaname = current_schema()"
                    f" AND relname = '{table}'")  # fmt: skip
    return bool(rows and rows[0][0])


def test_a_grown_table_is_analyzed_once_until_it_grows_by_half(pg: Database) -> None:
    _add_versions(pg, 0, MIN_ROWS - 10)
    time.sleep(1.5)
    assert analyze_stale_tables(pg) == []  # too small to matter
    _add_versions(pg, MIN_ROWS - 10, 1000)
    assert _eventually(lambda: analyze_stale_tables(pg)) == ["rm_versions"]
    assert _analyzed(pg, "rm_versions")
    assert analyze_stale_tables(pg) == []  # just analyzed
    _add_versions(pg, 2 * MIN_ROWS, 500)  # a quarter more: not yet
    time.sleep(1.5)
    assert analyze_stale_tables(pg) == []
    _add_versions(pg, 3 * MIN_ROWS, 1500)
    assert _eventually(lambda: analyze_stale_tables(pg)) == ["rm_versions"]


def test_the_keeper_samples_few_rows(pg: Database) -> None:
    """Its statistics are those of a small sample: a histogram of SAMPLE_TARGET buckets
    for a key of thousands of distinct values (the server's default would give 100),
    and the session's own target is left as it was."""
    _add_versions(pg, 0, 5 * MIN_ROWS)
    assert _eventually(lambda: analyze_stale_tables(pg)) == ["rm_versions"]
    [(bounds,)] = pg.query("SELECT array_length(histogram_bounds, 1) FROM pg_stats"
                           " WHERE schemaname = current_schema() AND tablename = 'rm_versions'"
                           " AND attname = 'aggregate_id'")  # fmt: skip
    assert bounds == SAMPLE_TARGET + 1
    [(target,)] = pg.query("SHOW default_statistics_target")
    assert target == "100"


def test_a_generation_has_its_own_tables_analyzed(pg: Database) -> None:
    create_tables(pg, 2)
    _add_versions(pg, 0, 2 * MIN_ROWS, generation=2)
    assert _eventually(lambda: analyze_stale_tables(pg, 2)) == ["g2_rm_versions"]
    assert analyze_stale_tables(pg) == []  # the live generation's tables are empty


def test_the_keeper_analyzes_on_its_own_until_stopped(pg: Database, settings: Settings) -> None:
    keeper = StatisticsKeeper(settings, check_every_s=0.2)
    stop = threading.Event()
    thread = keeper.start(stop)
    try:
        _add_versions(pg, 0, 2 * MIN_ROWS)
        deadline = time.monotonic() + 15
        while not keeper.analyzed and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(10)
    assert keeper.analyzed == ["rm_versions"]
    assert not thread.is_alive()
    assert _analyzed(pg, "rm_versions")
