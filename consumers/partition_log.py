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
        empty, or its first record from `offset` on is a later one). Raises NoAnswer when
        no record came back in time: a loop that took that for "replaced" re-read whole
        partitions, or began relay epochs, on a merely busy machine."""
        self._consumer.assign([tp])
        # An empty partition answers 0 on Tansu and Kafka alike; other end offsets are
        # unreliable on Tansu, so the record itself is the proof.
        if self._consumer.end_offsets([tp]).get(tp, 0) == 0:
            return None
        self._consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for record in self._consumer.poll(timeout_ms=100, max_records=1).get(tp, []):
                return record if record.offset == offset else None
        raise NoAnswer(f"no record of {tp} at offset {offset} in {timeout_s:.1f} s")

    def empty(self, tps: list[TopicPartition]) -> bool:
        self._consumer.assign(tps)
        return all(end == 0 for end in self._consumer.end_offsets(tps).values())

    def partitions(self, topic: str) -> list[TopicPartition]:
        parts = self._consumer.partitions_for_topic(topic) or set()
        return [TopicPartition(topic, p) for p in sorted(parts)]

    def close(self) -> None:
        self._consumer.close()
