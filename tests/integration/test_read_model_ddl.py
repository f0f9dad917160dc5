"""The loops start together on a fresh database, each making the read models' tables if
missing: PostgreSQL's CREATE ... IF NOT EXISTS is not safe against itself, and a loop
died at start with a unique violation on pg_type before the DDL was serialised."""

from __future__ import annotations

import threading
from pathlib import Path

from projections.database import Database
from projections.tables import RETIRED_INDEXES, create_tables
from registry.config import Settings
from tests.conftest import DATABASE_URL

STARTING_TOGETHER = 6


def test_loops_starting_together_make_the_tables_once(tmp_path: Path, pg_schema: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"{DATABASE_URL}?schema={pg_schema}",
        kafka_bootstrap="127.0.0.1:1",  # never used: no Kafka here
    )
    barrier = threading.Barrier(STARTING_TOGETHER)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            db = Database(settings)
            try:
                create_tables(db)
            finally:
                db.close()
        except BaseException as error:  # collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(STARTING_TOGETHER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    db = Database(settings)
    try:
        assert db.live_generation() == 0
    finally:
        db.close()


def test_an_index_retired_from_the_read_model_is_dropped_where_found(
    tmp_path: Path, pg_schema: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"{DATABASE_URL}?schema={pg_schema}",
        kafka_bootstrap="127.0.0.1:1",
    )
    db = Database(settings)
    try:
        create_tables(db)
        with db.transaction() as cur:  # as an earlier version left it
            cur.execute("CREATE INDEX rm_audit_member_trail ON rm_audit"
                        " (aggregate_id, recorded_at, version)")  # fmt: skip
            # The wide rollup index, which PostgreSQL's counters made useless there.
            cur.execute("CREATE INDEX rm_members_rollup ON rm_members"
                        " (organisation_id, status, stage, sex, birth_date)")  # fmt: skip
        create_tables(db)
        names = {row[0] for row in db.query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}  # fmt: skip
    finally:
        db.close()
    assert {"rm_audit_member_trail", "rm_members_rollup"} <= set(RETIRED_INDEXES["postgres"])
    assert not names & set(RETIRED_INDEXES["postgres"])
    assert {"rm_audit_pkey", "rm_members_counted", "rm_members_roster"} <= names
