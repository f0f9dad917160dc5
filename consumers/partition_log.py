"""Reading one record back from a partition: how a loop proves the log it was reading
is still the log it read (Tansu forgets everything when it restarts, and says nothing)."""

from __future__ import annotations

import time

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from consumers.kafka import consumer
from registry.config import Settings


class NoAnswer(TimeoutError):
    """The broker did not hand the record over in time: nothing is known either way
    (a busy machine, a broker restarting). Not evidence that the log was replaced."""


class RecordReader:
    def __init__(self, settings: Settings) -> None:
        self._consumer = consumer(settings, group_id=None, fetch_max_wait_ms=20)

    def at(self, tp: TopicPartition, offset: int, timeout_s: float = 1.5) -> ConsumerRecord | None:
        """The record at `offset`, or None when the partition no longer holds it (it is
        empty, it ends before `offset`, or its first record from `offset` on is a later
        one). Raises NoAnswer when no record came back in time: a loop that took that for
        "replaced" re-read whole partitions, or began relay epochs, on a merely busy
        machine.

        Right after a broker restart one answer can be stale: a record of the lost log
        still buffered from a fetch sent before the restart (seen: the ingest resumed a
        partition after a record the new log did not have). The next call fetches afresh
        and finds the new log shorter, so a loop that checks its partitions again
        recovers; the ingest also reads back with a new reader after each rebalance."""
        self._consumer.assign([tp])
        # An empty partition answers 0 on Tansu and Kafka alike; other end offsets are
        # unreliable on Tansu, so the record itself is the proof.
        end = self._consumer.end_offsets([tp]).get(tp, 0)
        if end == 0:
            return None
        first = self._records_from(tp, offset, timeout_s, max_records=1)
        if first:
            return first[0] if first[0].offset == offset else None
        if offset >= end - 1:
            # Maybe past the log's end: Apache Kafka says so (out of range, and the reset
            # to the earliest record answers), Tansu answers nothing. Its end offset is
            # its last batch's start + 1, so that batch's last record is the log's last:
            # a log that ends before `offset` is not the one that held it. (Taken for
            # no answer, it left the ingest waiting at that offset for good, and the
            # requests sent after a restart unanswered.)
            last_batch = self._records_from(tp, end - 1, timeout_s, max_records=100_000)
            if last_batch and last_batch[-1].offset < offset:
                return None
        raise NoAnswer(f"no record of {tp} at offset {offset} in {timeout_s:.1f} s")

    def _records_from(self, tp: TopicPartition, offset: int, timeout_s: float, *,
                      max_records: int) -> list[ConsumerRecord]:  # fmt: skip
        """The records of the first poll from `offset` on that brings any (at most
        `max_records`); none if none came in time."""
        self._consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            records = self._consumer.poll(timeout_ms=100, max_records=max_records).get(tp, [])
            if records:
                return records
        return []

    def empty(self, tps: list[TopicPartition]) -> bool:
        self._consumer.assign(tps)
        return all(end == 0 for end in self._consumer.end_offsets(tps).values())

    def partitions(self, topic: str) -> list[TopicPartition]:
        parts = self._consumer.partitions_for_topic(topic) or set()
        return [TopicPartition(topic, p) for p in sorted(parts)]

    def close(self) -> None:
        self._consumer.close()
