"""The rebuild's reader (librdkafka) against the real broker: it must hand a loading
worker exactly what kafka-python's consumer hands the live projector, and go where a
seek sends it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kafka import TopicPartition

from consumers.bulk_reader import BulkReader
from consumers.kafka import consumer, ensure_topics, producer
from registry.broker import LocalBroker
from registry.config import Settings
from tests.conftest import make_settings

TOPIC = "test.bulk-reader"


def _publish(settings: Settings, count: int) -> None:
    kafka = producer(settings)
    try:
        for i in range(count):
            kafka.send(
                TOPIC,
                key=f"member-{i % 7}".encode(),
                value=None if i % 50 == 49 else f"event {i}".encode() * (1 + i % 3),
                headers=[("ce_id", f"id-{i}".encode()), ("empty", b""),
                         ("binary", bytes([i % 256, 0]))],
            )
        kafka.flush()
    finally:
        kafka.close()


Polled = dict[TopicPartition, list[Any]]


def _as_read(records: Polled) -> dict[TopicPartition, list[tuple[Any, ...]]]:
    return {
        tp: [(r.offset, r.key, r.value, [(k, v) for k, v in r.headers]) for r in rs]
        for tp, rs in records.items()
    }


def _read_all(reader: Any, expected: int, max_records: int) -> Polled:
    """Polls until `expected` records came (or 30 s went by)."""
    out: Polled = {}
    for _ in range(300):
        polled = reader.poll(timeout_ms=100, max_records=max_records)
        assert sum(len(rs) for rs in polled.values()) <= max_records
        for tp, records in polled.items():
            out.setdefault(tp, []).extend(records)
        if sum(len(rs) for rs in out.values()) >= expected:
            break
    return out


def test_reads_what_kafka_python_reads(tmp_path: Path, broker: LocalBroker) -> None:
    settings = make_settings(tmp_path, broker, None)
    ensure_topics(settings, [TOPIC])
    _publish(settings, 600)
    tps = [TopicPartition(TOPIC, p) for p in range(settings.partitions)]
    plain = consumer(settings, group_id=None)
    try:
        plain.assign(tps)
        expected = _as_read(_read_all(plain, 600, 100))
    finally:
        plain.close()
    reader = BulkReader(settings)
    try:
        reader.assign(tps)
        got = _as_read(_read_all(reader, 600, 100))
    finally:
        reader.close()
    assert sum(len(rs) for rs in expected.values()) == 600
    assert got == expected


def test_a_seek_reads_again_from_there_and_drops_what_was_fetched(
    tmp_path: Path, broker: LocalBroker
) -> None:
    settings = make_settings(tmp_path, broker, None).model_copy(update={"partitions": 1})
    ensure_topics(settings, [TOPIC])
    _publish(settings, 300)
    tp = TopicPartition(TOPIC, 0)
    reader = BulkReader(settings)
    try:
        reader.assign([tp])
        first = _read_all(reader, 120, 120)[tp]
        assert [r.offset for r in first] == list(range(120))
        reader.seek(tp, 40)  # back: what follows 120 was prefetched meanwhile
        again = _read_all(reader, 10, 10)[tp]
        assert [r.offset for r in again] == list(range(40, 50))
        reader.seek(tp, 290)  # forward
        last = _read_all(reader, 10, 100)[tp]
        assert [r.offset for r in last] == list(range(290, 300))
        assert reader.poll(timeout_ms=300, max_records=100) == {}
    finally:
        reader.close()


def test_a_record_larger_than_a_fetch_still_comes_in_order(
    tmp_path: Path, broker: LocalBroker
) -> None:
    # The live projector's fetches are bounded (consumers/group_reader.py); a record
    # beyond the bound must come anyway, or the partition would stall behind it.
    settings = make_settings(tmp_path, broker, None).model_copy(update={"partitions": 1})
    ensure_topics(settings, [TOPIC])
    sizes = [100, 3 * 1024 * 1024, 200, 5 * 1024 * 1024, 50]
    kafka = producer(settings)
    try:
        for size in sizes:
            kafka.send(TOPIC, key=b"k", value=b"x" * size, partition=0)
        kafka.flush()
    finally:
        kafka.close()
    tp = TopicPartition(TOPIC, 0)
    reader = BulkReader(settings, prefetch_kbytes=1024, fetch_kbytes=1024)
    try:
        reader.assign([tp])
        got = _read_all(reader, len(sizes), 10)[tp]
    finally:
        reader.close()
    assert [(r.offset, len(r.value or b"")) for r in got] == list(enumerate(sizes))
