"""The projector polls its next records while the server inserts a batch's rows
(consumers/projector.py): those records are applied by the next transaction as if polled
after the commit, and a rebalance during that poll waits for the transaction (PostgreSQL
cannot answer a query in the middle of a COPY)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from bench import citygen
from consumers.projector import Projector, _Rebalance
from projections.database import Database
from projections.tables import TABLES
from registry.config import Settings
from schemas import topics
from schemas.catalog import load_catalog
from tests.conftest import DATABASE_URL

TP = TopicPartition(topics.MEMBER_EVENTS, 0)
OTHER = TopicPartition(topics.ORGANISATION_EVENTS, 0)
SHAPE = citygen.CityShape(members=30, districts=1, streets_per_district=1,
                          communities_per_street=1, units_per_street=1)  # fmt: skip


def _records() -> list[ConsumerRecord]:
    """A small city's events as records of one partition (organisations first)."""
    catalog = load_catalog()
    records = []
    for offset, ((name, record), position) in enumerate(citygen.events(SHAPE, 3)):
        value = catalog.encode(f"registry.events.{name}", record)
        headers = [(topics.CE_ID, f"{record['aggregate_id']}:{record['version']}".encode()),
                   (topics.POSITION, str(position).encode())]  # fmt: skip
        records.append(ConsumerRecord(TP.topic, TP.partition, -1, offset, 0, 0, None, value,
                                      headers, None, 0, len(value), 0))  # fmt: skip
    return records


class _Consumer:
    """Hands out the records in polls of `size`; `on_poll` runs inside each poll (a
    rebalance's callbacks run there too)."""

    def __init__(self, records: list[ConsumerRecord], size: int) -> None:
        self.records, self.size, self.next = records, size, 0
        self.polls_in_copy = 0
        self.on_poll: Any = None
        self.assigned = {TP}

    def poll(self, timeout_ms: int = 0, max_records: int = 0) -> dict[Any, Any]:
        if self.on_poll is not None:
            self.on_poll()
        chunk = self.records[self.next : self.next + self.size]
        self.next += len(chunk)
        return {TP: chunk} if chunk else {}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.next = offset

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    database = Database(Settings(data_dir=tmp_path, database_url=f"{DATABASE_URL}?schema={schema}"))
    yield database
    database.close()
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _projector(db: Database, tmp_path: Path, consumer: _Consumer) -> Projector:
    projector = Projector(Settings(data_dir=tmp_path), db, load_catalog())
    projector._consumer = consumer  # type: ignore[assignment]
    projector._poll_ahead = True  # as run() sets it
    projector.assign([TP])
    return projector


def _drain(projector: Projector, consumer: _Consumer) -> int:
    """run()'s loop without the broker: records polled ahead first, then a poll."""
    batches = 0
    while True:
        if projector._polled_ahead:
            polled, projector._polled_ahead = projector._polled_ahead, {}
        else:
            polled = consumer.poll()
        missing = consumer.assignment() - projector.positions.keys()
        if missing:
            projector.assign(sorted(missing, key=str))
        mine = {tp: rs for tp, rs in polled.items() if tp in projector.positions}
        if not polled:
            return batches
        projector.process_polled(mine)
        batches += 1


def _tables(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    # Rollup counters that went back to 0 keep their row (rollup_counts.py): compared
    # without them, as batch boundaries decide which ones passed through a count.
    return {t: sorted(map(tuple, db.query(f"SELECT * FROM {t}" + (" WHERE n <> 0" if t ==
                                          "rm_rollup_counts" else ""))), key=repr)
            for t in TABLES if t != "rm_undecodable"}  # fmt: skip


def _next(projector: Projector) -> dict[Any, Any]:
    """The records the last batch polled ahead, as run() takes them."""
    polled, projector._polled_ahead = projector._polled_ahead, {}
    assert polled
    return polled


def test_records_polled_during_a_copy_are_applied_by_the_next_batch(
    db: Database, tmp_path: Path
) -> None:
    records = _records()
    consumer = _Consumer(records, 40)
    projector = _projector(db, tmp_path, consumer)
    in_copy = []
    consumer.on_poll = lambda: in_copy.append(projector.applying)
    _drain(projector, consumer)
    # Every poll after the first was taken inside a batch's transaction.
    assert in_copy[0] is False and all(in_copy[1:-1])
    assert projector.positions[TP].next_offset == len(records)
    assert db.query("SELECT count(*) FROM rm_audit")[0][0] == len(records)

    # The same tables as the whole partition in one batch.
    other_schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{other_schema}"')
    other = Database(Settings(data_dir=tmp_path / "o",
                              database_url=f"{DATABASE_URL}?schema={other_schema}"))  # fmt: skip
    try:
        single = _Consumer(records, len(records))
        _drain(_projector(other, tmp_path / "o", single), single)
        assert _tables(db) == _tables(other)
    finally:
        other.close()
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{other_schema}" CASCADE')


def test_a_batch_that_fails_after_polling_ahead_is_applied_again(
    db: Database, tmp_path: Path
) -> None:
    records = _records()
    consumer = _Consumer(records, 40)
    projector = _projector(db, tmp_path, consumer)
    projector.process_polled(consumer.poll())
    failed = {"once": False}
    original = projector._save_position

    def fail_once(cur: Any, tp: TopicPartition, position: Any) -> None:
        if not failed["once"]:
            failed["once"] = True
            raise psycopg.OperationalError("the server went away")
        original(cur, tp, position)

    projector._save_position = fail_once  # type: ignore[method-assign]
    with pytest.raises(psycopg.OperationalError):
        projector.process_polled(_next(projector))
    assert projector._polled_ahead  # polled during the failed batch's COPY
    assert projector.positions[TP].next_offset == 40  # as the database holds it
    # The loop's next batch starts past the failed one: the partition is sought back.
    _drain(projector, consumer)
    assert projector.positions[TP].next_offset == len(records)
    assert db.query("SELECT count(*) FROM rm_audit")[0][0] == len(records)


def test_a_rebalance_during_the_poll_ahead_waits_for_the_transaction(
    db: Database, tmp_path: Path
) -> None:
    records = _records()
    consumer = _Consumer(records, 40)
    projector = _projector(db, tmp_path, consumer)
    listener = _Rebalance(projector)
    projector.process_polled(consumer.poll())

    def rebalance() -> None:
        # Inside the COPY: a query now would fail; the revoked partition's records are
        # committed with its position, and the assigned one is taken up afterwards.
        consumer.on_poll = None
        listener.on_partitions_revoked([TP])
        listener.on_partitions_assigned([OTHER])
        consumer.assigned = {OTHER}

    consumer.on_poll = rebalance
    projector.process_polled(_next(projector))
    assert TP not in projector.positions  # not ours any more, not put back
    assert OTHER not in projector.positions  # taken up by the loop, not in the COPY
    assert db.query("SELECT next_offset FROM rm_offsets WHERE topic = ?",
                    (TP.topic,))[0][0] == 80  # fmt: skip
    projector.assign(sorted(consumer.assignment() - projector.positions.keys(), key=str))
    assert projector.positions[OTHER].next_offset == 0


def test_a_record_decoded_ahead_that_is_not_avro_is_kept_as_undecodable(
    db: Database, tmp_path: Path
) -> None:
    records = _records()
    bad = records[50]._replace(value=b"not an avro record")
    records[50] = bad
    consumer = _Consumer(records, 40)
    projector = _projector(db, tmp_path, consumer)
    projector.process_polled(consumer.poll())
    assert bad in projector._polled_ahead[TP]
    assert projector._decoded_ahead  # decoded in the first batch's COPY
    _drain(projector, consumer)
    assert db.query("SELECT record_offset FROM rm_undecodable") == [(50,)]
    assert db.query("SELECT count(*) FROM rm_audit")[0][0] == len(records) - 1
    assert projector.positions[TP].next_offset == len(records)
