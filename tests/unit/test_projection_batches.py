"""A batch applied set-based leaves exactly the tables that the same events applied one
at a time leave, whatever the batch boundaries, repeats and gaps; and two projectors
racing on one partition apply each event once (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench import citygen
from projections.apply import ConcurrentApply, Event, apply_events
from projections.apply.loading import LoadingMembers
from projections.database import Database
from projections.tables import TABLES, create_tables
from registry.config import Settings
from schemas.catalog import load_catalog
from tests.conftest import DATABASE_URL
from tests.unit.projection_events import Feed, oid

SHAPE = citygen.CityShape(members=80, districts=1, streets_per_district=2,
                          communities_per_street=2, units_per_street=1)


def _published() -> list[Event]:
    """A small city as the projector receives it: decoded from Avro, members' events
    interleaved in recorded order (each member's still in version order), then the rarer
    facts citygen does not make."""
    catalog = load_catalog()
    events = []
    for (name, record), position in citygen.events(SHAPE, 3):
        schema_name, decoded = catalog.decode(catalog.encode(f"registry.events.{name}", record))
        events.append((schema_name, decoded, position))
    latest: dict[Any, Any] = {}
    keys = []
    for _, record, _ in events:
        aggregate = record["aggregate_id"]
        latest[aggregate] = max(latest.get(aggregate, record["recorded_at"]),
                                record["recorded_at"])
        keys.append((latest[aggregate], str(aggregate), record["version"]))
    ordered = [e for _, e in sorted(zip(keys, events, strict=True), key=lambda ke: ke[0])]
    return ordered + _rare_facts()


def _rare_facts() -> list[Event]:
    feed = Feed(None)  # type: ignore[arg-type]  # only numbers the events
    feed.versions = {}
    member = uuid.uuid4()
    feed.event("MemberApplied", member, date(2021, 3, 1), name="甲", sex="MALE",
               birth_date=date(1990, 1, 2), ethnicity="汉族", education="本科",
               occupation="教师", organisation_id=citygen.org_id(citygen.CITY))  # fmt: skip
    for day, name, fields in (
        (date(2021, 4, 1), "MemberCircumstanceSet", {"circumstance": "MOBILE"}),
        (date(2021, 4, 2), "MemberApplicationTalkHeld", {"held_by": oid("X"), "late": True}),
        (date(2021, 4, 3), "MemberCommunityOpinionHeard",
         {"community_id": oid("C"), "favourable": False}),
        (date(2021, 4, 4), "MemberCircumstanceCleared", {"circumstance": "MOBILE"}),
        (date(2021, 4, 5), "MemberCircumstanceSet", {"circumstance": "RETIRED"}),
        # Recorded later, effective earlier: lands in its place in the timeline.
        (date(2021, 3, 15), "MemberPlaced", {"placement_organisation_id": oid("P")}),
    ):
        feed.event(name, member, day, **fields)
    return [(name, record, position) for name, record, position in feed.records]


@pytest.fixture(params=["sqlite", "postgres"])
def two_dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Database, ...]]:
    schemas = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    postgres = request.param == "postgres"
    if postgres:
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'CREATE SCHEMA "{schema}"')
    dbs = []
    for schema in schemas:
        url = f"{DATABASE_URL}?schema={schema}" if postgres else None
        db = Database(Settings(data_dir=tmp_path / schema, database_url=url))
        create_tables(db)
        dbs.append(db)
    yield tuple(dbs)
    for db in dbs:
        db.close()
    if postgres:
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _tables(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(map(tuple, db.query(f"SELECT * FROM {t}")), key=repr)
            for t in TABLES if t not in ("rm_offsets", "rm_undecodable")}


def test_batches_leave_what_one_event_at_a_time_leaves(two_dbs: tuple[Database, ...]) -> None:
    one_by_one, batched = two_dbs
    events = _published()
    with one_by_one.transaction() as cur:
        assert sum(apply_events(cur, [e]) for e in events) == len(events)

    # Ragged batches, each with repeats of earlier events mixed in, and now and then an
    # event ahead of its predecessor (a gap): skipped, then applied when it comes again.
    rng = random.Random(5)
    applied, i = 0, 0
    while i < len(events):
        size = rng.choice((1, 2, 7, 50, 400))
        batch = list(events[i : i + size])
        batch += rng.sample(events[: i + len(batch)], min(3, i + len(batch)))
        ahead = events[i + size + 1 : i + size + 2]
        with batched.transaction() as cur:
            applied += apply_events(cur, batch + ahead)
        i += size
    assert applied == len(events)
    assert _tables(batched) == _tables(one_by_one)


def test_a_loading_worker_with_its_members_in_memory_leaves_the_same_tables(
    two_dbs: tuple[Database, ...],
) -> None:
    """A rebuild's loading worker (apply/loading.py): ragged batches with repeats and
    gaps, now and then one rolled back and applied again, then the members written once
    at the end; the tables are those the live apply leaves."""
    one_by_one, loaded = two_dbs
    events = _published()
    with one_by_one.transaction() as cur:
        assert sum(apply_events(cur, [e]) for e in events) == len(events)

    members = LoadingMembers()
    rng = random.Random(11)
    applied, i = 0, 0
    while i < len(events):
        size = rng.choice((1, 3, 40, 300))
        batch = list(events[i : i + size])
        batch += rng.sample(events[: i + len(batch)], min(3, i + len(batch)))
        batch += events[i + size + 1 : i + size + 2]
        if rng.random() < 0.2:
            # Rolled back: memory must not keep what the database did not.
            with pytest.raises(RuntimeError), loaded.transaction() as cur:
                members.apply_events(cur, batch)
                raise RuntimeError("the batch's transaction failed")
        with loaded.transaction() as cur:
            applied += members.apply_events(cur, batch)
        members.committed()
        i += size
    assert applied == len(events)
    with loaded.transaction() as cur:
        members.write(cur)
    assert _tables(loaded) == _tables(one_by_one)


# PostgreSQL only: SQLite has one writer at a time, so two projectors cannot overlap.
@pytest.mark.parametrize("two_dbs", ["postgres"], indirect=True)
def test_two_projectors_on_one_partition_apply_each_event_once(
    two_dbs: tuple[Database, ...], tmp_path: Path
) -> None:
    first = two_dbs[0]
    second = Database(first._settings)  # another connection, as another projector
    events = _published()[:300]
    try:
        outcome: list[Any] = []
        with first.transaction() as cur:
            assert apply_events(cur, events) == len(events)

            def rival() -> None:
                try:
                    with second.transaction() as cur2:
                        outcome.append(apply_events(cur2, events))
                except ConcurrentApply as error:
                    outcome.append(error)

            thread = threading.Thread(target=rival)
            thread.start()
            thread.join(0.5)
            assert thread.is_alive(), "the rival must wait for the first transaction"
        thread.join(10)
        # It waited on the versions being written, found them taken and backed off.
        assert len(outcome) == 1 and isinstance(outcome[0], ConcurrentApply)
        with second.transaction() as cur2:
            assert apply_events(cur2, events) == 0
        assert first.query("SELECT count(*) FROM rm_audit")[0][0] == len(events)
    finally:
        second.close()


def test_a_rebalance_the_database_cannot_answer_leaves_the_partitions_to_the_loop(
    tmp_path: Path,
) -> None:
    """kafka-python 3 raises a rebalance listener's error again from poll(), which would
    end the projector's loop: the listener must log it and leave the partitions without
    a position, for the loop to take up once the database answers."""
    from kafka import TopicPartition

    from consumers.projector import Projector, _Rebalance

    db = Database(Settings(data_dir=tmp_path))
    try:
        projector = Projector(Settings(data_dir=tmp_path), db, load_catalog())

        def unanswered(tps: list[TopicPartition]) -> None:
            raise psycopg.OperationalError("the database restarts")

        projector.assign = unanswered  # type: ignore[method-assign]
        tp = TopicPartition("registry.member-events", 0)
        _Rebalance(projector).on_partitions_assigned([tp])
        assert tp not in projector.positions
    finally:
        db.close()
