"""A poll's records of several partitions saved in one transaction, each partition with its
own tracking record (consumers/ingest.py); what cannot be saved together is saved
partition by partition; and the guard leaves partitions proved since its last round
alone. Both stores (SQLite, PostgreSQL) and stand-ins for the two consumers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from bench import workload
from consumers.ingest import Ingest
from domain.change_request import change_request_id
from registry.config import Settings
from registry.runtime import ingest_context
from registry.store import EventStore, open_event_store
from schemas import topics
from tests.conftest import DATABASE_URL

A = TopicPartition(topics.CHANGE_REQUESTS, 0)
B = TopicPartition(topics.CHANGE_REQUESTS, 1)


def _records(tp: TopicPartition, tag: str, count: int) -> list[ConsumerRecord]:
    """Applications of people of their own (B's after A's)."""
    start = 1000 * tp.partition
    return [
        ConsumerRecord(tp.topic, tp.partition, -1, offset, 0, 0, encoded.key, encoded.value,
                       [], None, len(encoded.key), len(encoded.value), 0)
        for offset, encoded in enumerate(workload.applications(count, tag, start=start))
    ]  # fmt: skip


class _Consumer:
    def seek(self, tp: TopicPartition, offset: int) -> None:
        pass


class _Reader:
    """The read-back, from the logs the broker holds."""

    def __init__(self, logs: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        self.logs = logs
        self.asked: list[tuple[int, int]] = []

    def at(self, tp: TopicPartition, offset: int) -> ConsumerRecord | None:
        self.asked.append((tp.partition, offset))
        log = self.logs[tp]
        return log[offset] if offset < len(log) else None

    def close(self) -> None:
        pass


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The embedded store, and PostgreSQL's (whose recorder inserts the tracking
    records with its own statements)."""
    database_url = None
    if request.param == "postgres":
        schema = request.getfixturevalue("pg_schema")
        database_url = f"{DATABASE_URL}{'&' if '?' in DATABASE_URL else '?'}schema={schema}"
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    events = open_event_store(settings)
    workload.seed_store(events, ingest_context(settings), workload.organisations("batches"))
    yield settings, events
    events.close()


def _ingest(settings: Settings, events: EventStore,
            logs: dict[TopicPartition, list[ConsumerRecord]]) -> tuple[Ingest, _Reader]:
    ingest = Ingest(settings, events, ingest_context(settings))
    reader = _Reader(logs)
    ingest._consumer = _Consumer()  # type: ignore[assignment]
    ingest._reader = reader  # type: ignore[assignment]
    for tp in logs:
        ingest._resume(tp)
    return ingest, reader


def _handled(events: EventStore, tp: TopicPartition) -> int | None:
    return events.process_recorder.max_tracking_id(f"{tp.topic}/{tp.partition}@1")


def _recorded(events: EventStore, tp: TopicPartition, tag: str, count: int) -> list[bool]:
    """Whether each of the partition's `count` applications has its request recorded in
    the store."""
    found = []
    for i in range(1000 * tp.partition, 1000 * tp.partition + count):
        try:
            events.repository.get(change_request_id(workload.CITY, f"{tag}-a{i:08d}"))
        except AggregateNotFoundError:
            found.append(False)
        else:
            found.append(True)
    return found


def test_a_poll_of_two_partitions_is_one_transaction_with_both_positions(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, events = store
    logs = {A: _records(A, "a", 10), B: _records(B, "b", 10)}
    ingest, _ = _ingest(settings, events, logs)
    saves: list[int] = []
    record = events.record
    monkeypatch.setattr(events, "record",
                        lambda evs, *trackings: (saves.append(len(trackings)),
                                                 record(evs, *trackings)))  # fmt: skip
    ingest.process_polled({A: logs[A], B: logs[B]})
    assert saves == [2]
    assert (_handled(events, A), _handled(events, B)) == (9, 9)
    assert (ingest.partitions[A].next_offset, ingest.partitions[B].next_offset) == (10, 10)


def test_one_tracking_record_behind_fails_the_whole_transaction(store: Any) -> None:
    _, events = store
    name = f"{B.topic}/{B.partition}@1"
    events.record([], Tracking(name, 5))
    with pytest.raises(Exception, match="tracking"):
        events.record([], Tracking(f"{A.topic}/{A.partition}@1", 3), Tracking(name, 5))
    assert _handled(events, A) is None  # nothing of it saved


def test_a_partition_another_writer_saved_first_leaves_the_other_saved(store: Any) -> None:
    settings, events = store
    logs = {A: _records(A, "a", 10), B: _records(B, "b", 10)}
    ingest, _ = _ingest(settings, events, logs)
    # Another ingest process, holding B for a moment in a rebalance, saved it first.
    events.record([], Tracking(f"{B.topic}/{B.partition}@1", 9))
    ingest.process_polled({A: logs[A], B: logs[B]})
    assert (_handled(events, A), _handled(events, B)) == (9, 9)
    assert _recorded(events, A, "a", 10) == [True] * 10
    assert _recorded(events, B, "b", 10) == [False] * 10  # left to the one that saved B


def test_the_guard_reads_back_only_partitions_not_proved_since_its_last_round(
    store: Any
) -> None:
    settings, events = store
    logs = {A: _records(A, "a", 20), B: _records(B, "b", 20)}
    ingest, reader = _ingest(settings, events, logs)
    ingest.process_polled({A: logs[A][0:10], B: logs[B][0:10]})
    ingest.process_polled({A: logs[A][9:20]})  # A proved by its own fetch; B quiet
    reader.asked.clear()
    ingest._guard_all()
    assert reader.asked == []  # both proved since the last round
    ingest._guard_all()
    assert sorted(reader.asked) == [(0, 19), (1, 9)]  # neither proved since
