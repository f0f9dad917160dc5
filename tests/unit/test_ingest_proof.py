"""How the ingest proves that a partition still holds what it handled (consumers/ingest.py):
the record handled last comes first in the next fetch, or, after a quiet spell, is read
back. A partition whose proof fails is resumed, and what it holds now is not applied as
if it followed. The embedded store (SQLite) and stand-ins for the two consumers."""

from __future__ import annotations

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
from schemas import topics

TP = TopicPartition(topics.CHANGE_REQUESTS, 0)


def _records(tag: str, count: int) -> list[ConsumerRecord]:
    return [
        ConsumerRecord(TP.topic, TP.partition, -1, offset, 0, 0, encoded.key, encoded.value,
                       [], None, len(encoded.key), len(encoded.value), 0)
        for offset, encoded in enumerate(workload.applications(count, tag))
    ]  # fmt: skip


class _Consumer:
    def __init__(self) -> None:
        self.sought: list[int] = []

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.sought.append(offset)


class _Reader:
    """The second consumer's read-back, from the log the broker holds now."""

    def __init__(self, log: list[ConsumerRecord]) -> None:
        self.log = log
        self.asked: list[int] = []

    def at(self, tp: TopicPartition, offset: int) -> ConsumerRecord | None:
        self.asked.append(offset)
        return self.log[offset] if offset < len(self.log) else None

    def close(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Any:
    settings = Settings(data_dir=tmp_path)
    events = open_event_store(settings)
    workload.seed_store(events, ingest_context(settings), workload.organisations("proof"))
    yield settings, events
    events.close()


def _ingest(settings: Settings, events: EventStore, log: list[ConsumerRecord]
            ) -> tuple[Ingest, _Consumer, _Reader]:
    ingest = Ingest(settings, events, ingest_context(settings))
    consumer, reader = _Consumer(), _Reader(log)
    ingest._consumer = consumer  # type: ignore[assignment]
    ingest._reader = reader  # type: ignore[assignment]
    ingest._resume(TP)
    return ingest, consumer, reader


def _handled(events: EventStore, incarnation: int = 1) -> int | None:
    return events.process_recorder.max_tracking_id(f"{TP.topic}/{TP.partition}@{incarnation}")


def test_a_busy_partition_is_proved_by_its_own_fetch(store: Any) -> None:
    settings, events = store
    log = _records("busy", 30)
    ingest, consumer, reader = _ingest(settings, events, log)
    ingest.process(TP, log[0:10])
    assert consumer.sought[-1] == 9  # the next fetch starts with the record handled last
    ingest.process(TP, log[9:20])
    assert _handled(events) == 19
    assert reader.asked == []  # no read-back: the fetch itself held the proof
    # Quiet: the fetch held the proof only; the next batch is proved by a read-back.
    ingest.process(TP, log[19:20])
    assert _handled(events) == 19
    ingest.process(TP, log[20:25])
    assert reader.asked == [19] and _handled(events) == 24


def test_a_partition_whose_proof_differs_is_resumed_not_continued(store: Any) -> None:
    settings, events = store
    log = _records("before", 12)
    ingest, consumer, reader = _ingest(settings, events, log)
    ingest.process(TP, log[0:10])
    # The broker lost the log; another one, as long, holds other requests.
    replaced = _records("after", 12)
    reader.log = replaced
    ingest.process(TP, replaced[9:12])
    assert _handled(events) == 9  # nothing of the new log applied as if it followed
    state = ingest.partitions[TP]
    assert (state.incarnation, state.next_offset) == (2, 0)  # read again from its start
    assert consumer.sought[-1] == 0


def test_a_backlog_keeps_its_fetched_records_and_is_read_back(store: Any) -> None:
    settings, events = store
    log = _records("backlog", 20)
    ingest, consumer, reader = _ingest(settings, events, log)
    sought = len(consumer.sought)
    ingest.process(TP, log[0:10], prove_by_fetch=False)  # the poll was cut by its limit
    assert len(consumer.sought) == sought  # no seek: what was fetched past it is kept
    ingest.process(TP, log[10:20], prove_by_fetch=False)
    assert reader.asked == [9] and _handled(events) == 19
