"""The baselines with no store and no database: kafka-python alone, with the loops'
own producer and consumer settings (consumers/kafka.py); and the rebuild's reader alone
(librdkafka, consumers/bulk_reader.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from consumers.bulk_reader import BulkReader
from consumers.kafka import consumer, producer
from projections.rebuild_load import LOAD_RECORDS
from registry.config import Settings


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Timed:
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else float("nan")


def _partitions_of(kafka: Any, topic_names: Sequence[str]) -> list[TopicPartition]:
    return [TopicPartition(name, p) for name in topic_names
            for p in sorted(kafka.partitions_for_topic(name) or set())]  # fmt: skip


def consume(settings: Settings, topic_names: Sequence[str], expected: int | None = None,
            idle_s: float = 2.0, timeout_s: float = 300,
            on_record: Callable[[Any], None] | None = None) -> Timed:
    """Reads the topics from the beginning (partitions assigned, no group), timed from
    the first record received to the last; done at `expected` records or after idle_s
    without any."""
    kafka = consumer(settings, group_id=None)
    try:
        tps = _partitions_of(kafka, topic_names)
        kafka.assign(tps)
        kafka.seek_to_beginning(*tps)
        count, first, last = 0, None, time.perf_counter()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            polled = kafka.poll(timeout_ms=100, max_records=2000)
            now = time.perf_counter()
            for records in polled.values():
                if first is None:
                    first = now
                for record in records:
                    if on_record is not None:
                        on_record(record)
                count += len(records)
                last = time.perf_counter()
            if expected is not None and count >= expected:
                break
            if not polled and first is not None and now - last > idle_s:
                break
        return Timed(count, (last - first) if first is not None else 0.0)
    finally:
        kafka.close()


def consume_bulk(settings: Settings, topic_names: Sequence[str], expected: int,
                 on_record: Callable[[Any], None], timeout_s: float = 300) -> Timed:
    """`consume` with the rebuild's reader (librdkafka: consumers/bulk_reader.py), in the
    batches a loading worker asks for; done at `expected` records."""
    lookup = consumer(settings, group_id=None)
    try:
        tps = _partitions_of(lookup, topic_names)
    finally:
        lookup.close()
    reader = BulkReader(settings)
    try:
        reader.assign(tps)
        count, first, last = 0, None, time.perf_counter()
        deadline = time.monotonic() + timeout_s
        while count < expected and time.monotonic() < deadline:
            polled = reader.poll(timeout_ms=200, max_records=LOAD_RECORDS)
            if polled and first is None:
                first = time.perf_counter()
            for records in polled.values():
                for record in records:
                    on_record(record)
                count += len(records)
            last = time.perf_counter()
        return Timed(count, (last - first) if first is not None else 0.0)
    finally:
        reader.close()


def create_topics(settings: Settings, names: Sequence[str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(n, settings.partitions, 1) for n in names])
    finally:
        admin.close()


def produce(settings: Settings, records: Sequence[Record], prefix: str = "bench.raw.") -> Timed:
    """Sends the records (same keys, values and headers) to `prefix + topic`, flushes and
    waits for every acknowledgement; timed from the first send after connecting."""
    create_topics(settings, sorted({prefix + r.topic for r in records}))
    kafka = producer(settings)
    try:
        kafka.partitions_for(prefix + records[0].topic)  # connected and warm before timing
        started = time.perf_counter()
        futures = [
            kafka.send(prefix + r.topic, key=r.key, value=r.value, headers=r.headers)
            for r in records
        ]
        kafka.flush()
        for future in futures:
            future.get(timeout=60)
        return Timed(len(records), time.perf_counter() - started)
    finally:
        kafka.close(timeout=5)
