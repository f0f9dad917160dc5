"""Read-model text compares bytewise on PostgreSQL (projections/tables.py), names and
the Kafka positions excepted; a rebuild made by this code still switches over from a
generation made before the collations were set."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.projector import GROUP_ID
from projections import tables
from projections.database import POINTER_TABLE, Database, table_name
from projections.rebuild import try_switch
from registry.config import Settings
from tests.conftest import DATABASE_URL


def _database(tmp_path: Path, schema: str) -> Database:
    return Database(Settings(data_dir=tmp_path / "data",
                             database_url=f"{DATABASE_URL}?schema={schema}",
                             kafka_bootstrap="127.0.0.1:1"))  # fmt: skip


def _collations(db: Database, generation: int) -> dict[tuple[str, str], str]:
    rows = db.query(
        "SELECT c.relname, a.attname, coalesce(co.collname, '')"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_collation co ON co.oid = a.attcollation"
        " WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attnum > 0"
        " AND a.atttypid = 'text'::regtype",
        generation=0,
    )
    prefix = table_name("", generation)
    return {(r[0][len(prefix):], r[1]): r[2] for r in rows if r[0].startswith(prefix + "rm_")}


def test_ids_and_dates_compare_bytewise_names_and_positions_by_the_locale(
    tmp_path: Path, pg_schema: str
) -> None:
    db = _database(tmp_path, pg_schema)
    try:
        tables.create_tables(db)
        collations = _collations(db, 0)
    finally:
        db.close()
    assert collations[("rm_members", "id")] == "C"
    assert collations[("rm_member_history", "effective_date")] == "C"
    assert collations[("rm_rollup_counts", "organisation_id")] == "C"
    assert collations[("rm_members", "name")] == "default"
    assert collations[("rm_organisations", "name")] == "default"
    assert {c for (t, _), c in collations.items() if t == "rm_offsets"} == {"default"}
    locale = {k for k, c in collations.items() if c != "C"}
    assert {k for k in locale if k[0] != "rm_offsets"} == {
        ("rm_members", "name"), ("rm_organisations", "name")}


def test_a_new_generation_switches_over_from_one_made_before_the_collations(
    tmp_path: Path, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _database(tmp_path, pg_schema)
    try:
        with monkeypatch.context() as before:
            before.setattr(tables, "_bytewise", lambda statement: statement)
            tables.create_tables(db, 1)
        assert set(_collations(db, 1).values()) == {"default"}
        tables.create_tables(db, 2, bare=True)
        for generation in (1, 2):
            with db.transaction(generation=generation) as cur:
                cur.execute(
                    "INSERT INTO rm_offsets (consumer, topic, kafka_partition, epoch,"
                    " next_offset) VALUES (?, 'registry.member-events', 0, 1, 10)",
                    (GROUP_ID,),
                )
        with db.transaction(generation=0) as cur:
            cur.execute(f"UPDATE {POINTER_TABLE} SET generation = 1 WHERE id = 1")
        assert try_switch(db, 1, 2)
        assert db.live_generation() == 2
    finally:
        db.close()
