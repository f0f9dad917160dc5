"""bench/citygen.py loads exactly what the projector would write for the same events, so
the query benchmark cannot silently run on a read model of an older schema.

A small city is loaded twice: by citygen (COPY, generation 1 behind the pointer) and by
applying the same events, Avro-encoded and decoded as the projector receives them,
through projections.apply.apply_event (generation 0). Every read-model table must hold the
same rows, and the timed queries must give the same answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench import citygen
from projections import history, queries
from projections.apply import apply_event
from projections.database import Database, table_name
from projections.tables import TABLES, create_tables
from registry.config import Settings
from schemas.catalog import load_catalog
from tests.conftest import DATABASE_URL

SHAPE = citygen.CityShape(members=600, districts=2, streets_per_district=2,
                          communities_per_street=2, units_per_street=1)
SEED = 7


def _settings(tmp_path: Path, schema: str) -> Settings:
    separator = "&" if "?" in DATABASE_URL else "?"
    return Settings(data_dir=tmp_path / schema,
                    database_url=f"{DATABASE_URL}{separator}schema={schema}")


@pytest.fixture
def schemas() -> Iterator[tuple[str, str]]:
    names = (f"t_{uuid.uuid4().hex[:12]}", f"t_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE SCHEMA "{name}"')
    yield names
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def _project(settings: Settings) -> None:
    """The same city through the projector's own code, one event at a time."""
    db = Database(settings)
    catalog = load_catalog()
    try:
        create_tables(db)
        with db.transaction() as cur:
            for (name, record), position in citygen.events(SHAPE, SEED):
                schema_name, decoded = catalog.decode(
                    catalog.encode(f"registry.events.{name}", record))
                assert apply_event(cur, schema_name, decoded, position), (name, record)
    finally:
        db.close()


def _rows(schema: str, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(DATABASE_URL) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        rows = conn.execute(f"SELECT * FROM {table}").fetchall()
    return sorted(rows, key=repr)


def test_citygen_loads_what_the_projector_writes(tmp_path: Path,
                                                 schemas: tuple[str, str]) -> None:
    generated, projected = schemas
    loaded = citygen.load_city(_settings(tmp_path, generated), SHAPE.members, seed=SEED,
                               shape=SHAPE, generation=1, workers=1)
    _project(_settings(tmp_path, projected))

    for table in TABLES:
        mine, theirs = _rows(generated, table_name(table, 1)), _rows(projected, table)
        if table == "rm_rollup_counts":
            # Counters that went back to 0 stay as rows (projections/rollup_counts.py);
            # citygen counts the final rows only. Both must hold the same non-zero counts.
            assert mine and all(r[-1] > 0 for r in mine)
            theirs = [r for r in theirs if r[-1] != 0]
        assert mine == theirs, table
        if table in citygen.COPY_COLUMNS:
            assert len(mine) == loaded.rows[table] > 0, table

    # A realistic mix: every stage, exits, transfers over the years, some in transit now.
    members = _rows(generated, "g1_rm_members")
    assert {m[8] for m in members} == set(queries.STAGES)
    assert loaded.exited > 0 and loaded.in_transit > 0
    assert loaded.active + loaded.exited == SHAPE.members
    moved = _rows(generated, "g1_rm_movements")
    assert sum(1 for m in moved if m[2] == "TRANSFER") > 10


def test_the_timed_queries_agree_and_add_up(tmp_path: Path, schemas: tuple[str, str]) -> None:
    generated, projected = schemas
    loaded = citygen.load_city(_settings(tmp_path, generated), SHAPE.members, seed=SEED,
                               shape=SHAPE, generation=1, workers=1)
    _project(_settings(tmp_path, projected))
    mine = Database(_settings(tmp_path, generated))
    theirs = Database(_settings(tmp_path, projected))
    try:
        assert mine.live_generation() == 1 and theirs.live_generation() == 0
        past = loaded.today - timedelta(days=3 * 365)
        roster_total = asof_total = past_total = 0
        for code in loaded.branches:
            roster = queries.roster(mine, code, limit=1000)
            assert roster == queries.roster(theirs, code, limit=1000)
            now = history.roster_as_of(mine, code, loaded.today)
            then = history.roster_as_of(mine, code, past)
            assert then == history.roster_as_of(theirs, code, past)
            # Nothing is dated after the city's today: as of today is the roster now.
            assert {m["member_id"] for m in now} == {m["member_id"] for m in roster}
            roster_total += len(roster)
            asof_total += len(now)
            past_total += len(then)
        assert roster_total == asof_total > 0 and 0 < past_total < roster_total
        district_totals = 0
        for code in loaded.districts:
            rollup = queries.rollup(mine, code)
            assert rollup == queries.rollup(theirs, code)
            assert rollup["total"] > 0
            district_totals += rollup["total"]
        # PostgreSQL's one-pass breakdowns equal the portable query per breakdown.
        base, params = queries._base(mine, str(citygen.org_id(citygen.CITY)), None)
        assert queries._counts_in_one_pass(mine, base, params, date.today()) == (
            queries._counts_per_breakdown(mine, base, params, date.today()))
        city = queries.rollup(mine, citygen.CITY)
        assert city == queries.rollup(theirs, citygen.CITY)
        assert city["total"] == district_totals == roster_total == loaded.active
        as_of = date(past.year, 1, 1)
        assert queries.rollup(mine, citygen.CITY, as_of=as_of) == queries.rollup(
            theirs, citygen.CITY, as_of=as_of)
    finally:
        mine.close()
        theirs.close()
