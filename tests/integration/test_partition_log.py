"""Reading one record back (consumers/partition_log.py), as the ingest proves that a log
is still the one it handled, against the real broker: the record at an offset the log
holds; None for an empty partition and for an offset past the log's end (a log replaced
by a shorter one, as after a Tansu restart: taken for "no answer", it left the ingest
waiting there for good)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from kafka import TopicPartition

from consumers.kafka import ensure_topics, producer
from consumers.partition_log import RecordReader
from registry.broker import LocalBroker
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def five_records(tmp_path: Path, broker: LocalBroker) -> Iterator[tuple[str, RecordReader]]:
    """A topic whose partition 0 holds v0..v4 (partition 1 nothing), and a reader."""
    settings = make_settings(tmp_path, broker, None)
    topic = f"test.partition-log.{uuid4().hex[:8]}"
    ensure_topics(settings, [topic])
    kafka = producer(settings)
    for i in range(5):
        kafka.send(topic, partition=0, key=b"k", value=f"v{i}".encode())
    kafka.flush()
    kafka.close()
    reader = RecordReader(settings)
    yield topic, reader
    reader.close()


def test_the_record_at_an_offset_the_log_holds(five_records: tuple[str, RecordReader]) -> None:
    topic, reader = five_records
    for offset in (4, 0, 3):
        record = reader.at(TopicPartition(topic, 0), offset)
        assert record is not None
        assert (record.offset, record.value) == (offset, f"v{offset}".encode())


def test_an_empty_partition_holds_nothing(five_records: tuple[str, RecordReader]) -> None:
    topic, reader = five_records
    assert reader.at(TopicPartition(topic, 1), 0) is None


def test_an_offset_past_the_logs_end_is_not_held(
    five_records: tuple[str, RecordReader],
) -> None:
    topic, reader = five_records
    assert reader.at(TopicPartition(topic, 0), 14) is None
    assert reader.at(TopicPartition(topic, 0), 5) is None
