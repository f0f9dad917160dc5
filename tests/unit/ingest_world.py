"""The ingest beside a store, with stand-ins for its two consumers: the group's (which
only seeks here) and the read-back reader (over the logs the broker holds now). Shared
by the ingest's proof and batch tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from bench import workload
from consumers.ingest import Ingest
from registry.config import Settings
from registry.runtime import ingest_context
from registry.store import EventStore, open_event_store
from tests.conftest import DATABASE_URL

Logs = dict[TopicPartition, list[ConsumerRecord]]


def records(tp: TopicPartition, tag: str, count: int) -> list[ConsumerRecord]:
    """`count` applications as the partition's records from offset 0, of people of the
    partition's own (partition 1's after partition 0's)."""
    return as_records(tp, workload.applications(count, tag, start=1000 * tp.partition))


def as_records(tp: TopicPartition, requests: Iterable[workload.Encoded]) -> list[ConsumerRecord]:
    """These requests as the partition's records from offset 0."""
    return [
        ConsumerRecord(tp.topic, tp.partition, -1, offset, 0, 0, encoded.key, encoded.value,
                       [], None, len(encoded.key), len(encoded.value), 0)
        for offset, encoded in enumerate(requests)
    ]  # fmt: skip


class Consumer:
    def __init__(self) -> None:
        self.sought: list[int] = []

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.sought.append(offset)


class Reader:
    """The second consumer's read-back, from the logs the broker holds now."""

    def __init__(self, logs: Logs) -> None:
        self.logs = logs
        self.asked: list[tuple[int, int]] = []  # (partition, offset)

    def at(self, tp: TopicPartition, offset: int) -> ConsumerRecord | None:
        self.asked.append((tp.partition, offset))
        log = self.logs[tp]
        return log[offset] if offset < len(log) else None

    def close(self) -> None:
        pass


@pytest.fixture(name="store", params=["sqlite", "postgres"])
def store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """(settings, event store) with the organisations seeded: the embedded store, and
    PostgreSQL's (whose recorder inserts tracking records with its own statements)."""
    database_url = None
    if request.param == "postgres":
        schema = request.getfixturevalue("pg_schema")
        database_url = f"{DATABASE_URL}{'&' if '?' in DATABASE_URL else '?'}schema={schema}"
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    events = open_event_store(settings)
    workload.seed_store(events, ingest_context(settings), workload.organisations("ingest"))
    yield settings, events
    events.close()


def ingest_over(settings: Settings, events: EventStore, logs: Logs
                ) -> tuple[Ingest, Consumer, Reader]:
    """An ingest with these partitions resumed from the store, over the stand-ins."""
    ingest = Ingest(settings, events, ingest_context(settings))
    consumer, reader = Consumer(), Reader(logs)
    ingest._consumer = consumer  # type: ignore[assignment]
    ingest._reader = reader  # type: ignore[assignment]
    for tp in logs:
        ingest._resume(tp)
    return ingest, consumer, reader


def in_line(settings: Settings) -> Settings:
    """Each batch saved before the next is handled (PostgreSQL's stores save behind)."""
    return settings.model_copy(update={"ingest_save_behind": False})


def handled(events: EventStore, tp: TopicPartition, incarnation: int = 1) -> int | None:
    """The last offset the store holds as handled for the partition's incarnation."""
    return events.process_recorder.max_tracking_id(f"{tp.topic}/{tp.partition}@{incarnation}")
