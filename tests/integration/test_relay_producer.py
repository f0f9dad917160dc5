"""The relay's librdkafka producer against the real broker: each record acknowledged with
the partition and offset it got, in the order handed over; a partition the topic does
not have, a broker that does not answer, or one that lost the topic, all come back as
kafka-python's KafkaError (the relay's cue to redo its rounds from the checkpoint)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaError

from consumers.bulk_reader import BulkReader
from consumers.kafka import ensure_topics
from consumers.relay_producer import RelayProducer
from registry.broker import LocalBroker
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

TOPIC = "test.relay-producer"


def test_records_are_acknowledged_in_order_with_their_offsets(
    tmp_path: Path, broker: LocalBroker
) -> None:
    settings = make_settings(tmp_path, broker, None)
    ensure_topics(settings, [TOPIC])
    kafka = RelayProducer(settings)
    try:
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
    finally:
        kafka.close()
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
    tmp_path: Path, broker: LocalBroker
) -> None:
    settings = make_settings(tmp_path, broker, None)
    ensure_topics(settings, [TOPIC])
    kafka = RelayProducer(settings)
    try:
        kafka.partitions_for(TOPIC)  # the producer knows the topic has 3
        with pytest.raises(KafkaError):
            acknowledgement = kafka.send(TOPIC, 7, b"k", b"v", [])
            kafka.wait_for(acknowledgement, time.monotonic() + 30)
    finally:
        kafka.close()


def test_a_broker_that_does_not_answer_is_a_kafka_error(
    tmp_path: Path, broker: LocalBroker
) -> None:
    settings = make_settings(tmp_path, broker, None)
    ensure_topics(settings, [TOPIC])
    kafka = RelayProducer(settings)
    try:
        kafka.partitions_for(TOPIC)
        broker.stop()
        acknowledgement = kafka.send(TOPIC, 0, b"k", b"v", [])
        started = time.monotonic()
        with pytest.raises(KafkaError, match="no acknowledgement"):
            kafka.wait_for(acknowledgement, started + 2)
        assert time.monotonic() - started < 10
    finally:
        kafka.close(timeout=0)


def test_a_broker_that_lost_its_topics_gives_offsets_from_the_start_again(
    tmp_path: Path, broker: LocalBroker
) -> None:
    # Tansu forgets everything when it restarts and makes the topic again when asked:
    # the offsets start again from 0, which is how the relay learns of the loss.
    settings = make_settings(tmp_path, broker, None)
    ensure_topics(settings, [TOPIC])
    kafka = RelayProducer(settings)
    try:
        first = [kafka.send(TOPIC, 0, b"k", f"v{i}".encode(), []) for i in range(5)]
        for acknowledgement in first:
            kafka.wait_for(acknowledgement, time.monotonic() + 30)
        assert first[-1].offset == 4
        broker.restart()
        ensure_topics(settings, [TOPIC])
        again = None
        deadline = time.monotonic() + 60
        while again is None and time.monotonic() < deadline:
            try:
                one = kafka.send(TOPIC, 0, b"k", b"after", [])
                kafka.wait_for(one, time.monotonic() + 30)
                again = one
            except KafkaError:
                time.sleep(0.5)  # the first sends after a restart may fail: sent again
        assert again is not None and again.offset < first[-1].offset
    finally:
        kafka.close()
