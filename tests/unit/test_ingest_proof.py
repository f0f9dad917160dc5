"""How the ingest proves that a partition still holds what it handled (consumers/ingest.py):
the record handled last comes first in the next fetch, or, after a quiet spell, is read
back. A partition whose proof fails is resumed, and what it holds now is not applied as
if it followed. Both stores and stand-ins for the two consumers (tests/unit/ingest_world.py)."""

from __future__ import annotations

from typing import Any

from kafka import TopicPartition

from schemas import topics
from tests.unit.ingest_world import handled, ingest_over, records, store_fixture  # noqa: F401

TP = TopicPartition(topics.CHANGE_REQUESTS, 0)


def test_a_busy_partition_is_proved_by_its_own_fetch(store: Any) -> None:
    settings, events = store
    log = records(TP, "busy", 30)
    ingest, consumer, reader = ingest_over(settings, events, {TP: log})
    ingest.process(TP, log[0:10])
    assert consumer.sought[-1] == 9  # the next fetch starts with the record handled last
    ingest.process(TP, log[9:20])
    ingest.settle()
    assert handled(events, TP) == 19
    assert reader.asked == []  # no read-back: the fetch itself held the proof
    # Quiet: the fetch held the proof only; the next batch is proved by a read-back.
    ingest.process(TP, log[19:20])
    ingest.settle()
    assert handled(events, TP) == 19
    ingest.process(TP, log[20:25])
    ingest.settle()
    assert reader.asked == [(0, 19)] and handled(events, TP) == 24


def test_a_partition_whose_proof_differs_is_resumed_not_continued(store: Any) -> None:
    settings, events = store
    log = records(TP, "before", 12)
    ingest, consumer, reader = ingest_over(settings, events, {TP: log})
    ingest.process(TP, log[0:10])
    # The broker lost the log; another one, as long, holds other requests.
    replaced = records(TP, "after", 12)
    reader.logs[TP] = replaced
    ingest.process(TP, replaced[9:12])
    ingest.settle()
    assert handled(events, TP) == 9  # nothing of the new log applied as if it followed
    state = ingest.partitions[TP]
    assert (state.incarnation, state.next_offset) == (2, 0)  # read again from its start
    assert consumer.sought[-1] == 0


def test_a_backlog_keeps_its_fetched_records_and_is_read_back(store: Any) -> None:
    settings, events = store
    log = records(TP, "backlog", 20)
    ingest, consumer, reader = ingest_over(settings, events, {TP: log})
    sought = len(consumer.sought)
    ingest.process(TP, log[0:10], prove_by_fetch=False)  # the poll was cut by its limit
    assert len(consumer.sought) == sought  # no seek: what was fetched past it is kept
    ingest.process(TP, log[10:20], prove_by_fetch=False)
    ingest.settle()
    assert reader.asked == [(0, 9)] and handled(events, TP) == 19
