"""The relay's librdkafka producer against the real broker: each record acknowledged with
the partition and offset it got, in the order handed over; a partition the topic does
not have, a broker that does not answer, or one that lost the topic, all come back as
kafka-python's KafkaError (the relay's cue to redo its rounds from the checkpoint)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaError

from consumers.bulk_reader import BulkReader
from consumers.kafka import ensure_topics
from consumers.relay_producer import RelayProducer
from registry.broker import LocalBroker
from registry.config import Settings
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

TOPIC = "test.relay-producer"


@pytest.fixture
def sending(tmp_path: Path, broker: LocalBroker) -> Iterator[tuple[Settings, RelayProducer]]:
    """The settings, the test topic made, and a producer (closed without waiting: a test
    may have stopped the broker)."""
    settings = make_settings(tmp_path, broker, None)
    ensure_topics(settings, [TOPIC])
    kafka = RelayProducer(settings)
    yield settings, kafka
    kafka.close(timeout=0)


def _acknowledged(kafka: RelayProducer, partition: int, value: bytes) -> int:
    """Sends one record and waits for it; its offset."""
    acknowledgement = kafka.send(TOPIC, partition, b"k", value, [])
    kafka.wait_for(acknowledgement, time.monotonic() + 30)
    return acknowledgement.offset


def test_records_are_acknowledged_in_order_with_their_offsets(
    sending: tuple[Settings, RelayProducer]
) -> None:
    settings, kafka = sending
    assert kafka.partitions_for(TOPIC) == list(range(settings.partitions))
    sent = []
    for i in range(300):
        partition = i % settings.partitions
        headers = [("ce_id", f"id-{i}".encode()), ("binary", bytes([i % 256, 0]))]
        sent.append((partition, f"k{i}".encode(), f"v{i}".encode(),
                     kafka.send(TOPIC, partition, f"k{i}".encode(), f"v{i}".encode(),
                                headers)))  # fmt: skip
    kafka.serve()
    deadline = time.monotonic() + 30
    for _, _, _, acknowledgement in sent:
        kafka.wait_for(acknowledgement, deadline)
    # Each partition's records got consecutive offsets from 0, in the order handed over.
    for partition in range(settings.partitions):
        offsets = [a.offset for p, _, _, a in sent if p == partition]
        assert offsets == list(range(100))
        assert {a.partition for p, _, _, a in sent if p == partition} == {partition}
    # And the broker holds them there, headers and all.
    reader = BulkReader(settings)
    try:
        reader.assign([TopicPartition(TOPIC, 1)])
        got = []
        for _ in range(100):
            for records in reader.poll(timeout_ms=100, max_records=500).values():
                got.extend(records)
            if len(got) >= 100:
                break
    finally:
        reader.close()
    assert [(r.key, r.value) for r in got] == [(k, v) for p, k, v, _ in sent if p == 1]
    assert got[0].headers == [("ce_id", b"id-1"), ("binary", bytes([1, 0]))]


def test_a_partition_the_topic_does_not_have_is_a_kafka_error(
    sending: tuple[Settings, RelayProducer]
) -> None:
    _, kafka = sending
    kafka.partitions_for(TOPIC)  # the producer knows the topic has 3
    with pytest.raises(KafkaError):
        _acknowledged(kafka, 7, b"v")


def test_a_broker_that_does_not_answer_is_a_kafka_error(
    sending: tuple[Settings, RelayProducer], broker: LocalBroker
) -> None:
    _, kafka = sending
    kafka.partitions_for(TOPIC)
    broker.stop()
    acknowledgement = kafka.send(TOPIC, 0, b"k", b"v", [])
    started = time.monotonic()
    with pytest.raises(KafkaError, match="no acknowledgement"):
        kafka.wait_for(acknowledgement, started + 2)
    assert time.monotonic() - started < 10


def test_a_broker_that_lost_its_topics_gives_offsets_from_the_start_again(
    sending: tuple[Settings, RelayProducer], broker: LocalBroker
) -> None:
    # Tansu forgets everything when it restarts and makes the topic again when asked:
    # the offsets start again from 0, which is how the relay learns of the loss.
    settings, kafka = sending
    first = [_acknowledged(kafka, 0, f"v{i}".encode()) for i in range(5)]
    assert first[-1] == 4
    broker.restart()
    ensure_topics(settings, [TOPIC])
    again = None
    deadline = time.monotonic() + 60
    while again is None and time.monotonic() < deadline:
        try:
            again = _acknowledged(kafka, 0, b"after")
        except KafkaError:
            time.sleep(0.5)  # the first sends after a restart may fail: sent again
    assert again is not None and again < first[-1]
