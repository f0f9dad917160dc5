"""The relay's producer: librdkafka (confluent-kafka) behind the few calls the relay makes.

Why not kafka-python's: at a steady 2,000 requests/s the relay's main process spent
~0.2 of a core in kafka-python's producer (a future, a batch append and a wake-up of its
I/O thread per record, record encoding and CRCs in Python), on a machine whose 2 cores
the ingest, the projector, the broker and PostgreSQL share. librdkafka encodes, batches
and sends from its own threads in C.

The guarantees are the ones the relay had: `acks=all`; one request in flight per
connection and no idempotence (Tansu forgets producer ids when it restarts, and an
idempotent producer then dies for good), so retries keep each partition's order; the
partition is chosen by the relay (the default partitioner's, on the relay's key hash),
never by the client. Every record's acknowledgement (partition, offset) or failure is
kept on its `Acknowledgement`; a failure, or no answer in time, raises kafka-python's
`KafkaError`, which the relay already treats as "redo the rounds from the checkpoint".
"""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import KafkaException, Message, Producer
from kafka.errors import KafkaError

from consumers.kafka import MAX_RECORD_BYTES
from registry.config import Settings

log = logging.getLogger(__name__)

# How long a record may wait for its acknowledgement, and a round for all of its own.
ACKNOWLEDGEMENT_TIMEOUT_S = 30.0
# Partition counts are read again after this long: a broker that lost its topics makes
# them again with its own count (Tansu: 4), and the relay must then key by the new one.
PARTITIONS_MAX_AGE_S = 5.0
# librdkafka's RD_KAFKA_PARTITION_UA: the configured partitioner chooses.
_ANY_PARTITION = -1


class Acknowledgement:
    """One record's answer from the broker, filled in by librdkafka's delivery report."""

    __slots__ = ("error", "offset", "partition")

    def __init__(self) -> None:
        self.partition = -1
        self.offset = -1
        self.error: str | None = None

    @property
    def done(self) -> bool:
        return self.offset >= 0 or self.error is not None

    def __call__(self, error: Any, message: Message) -> None:
        if error is not None:
            self.error = str(error)
        else:
            self.partition = message.partition()
            self.offset = message.offset()


class RelayProducer:
    """Records handed to the broker partition by partition, acknowledged one by one."""

    def __init__(self, settings: Settings) -> None:
        if settings.kafka_bootstrap is None:
            raise ValueError("kafka_bootstrap: the relay needs the broker's address")
        self._producer = Producer({
            "bootstrap.servers": settings.kafka_bootstrap,
            "acks": "all",
            "enable.idempotence": False,
            "max.in.flight.requests.per.connection": 1,
            "retries": 10,
            "retry.backoff.ms": 200,
            "linger.ms": 5,
            "batch.size": 1024 * 1024,
            "message.max.bytes": MAX_RECORD_BYTES + 1024 * 1024,
            "request.timeout.ms": 15000,
            "message.timeout.ms": int(ACKNOWLEDGEMENT_TIMEOUT_S * 1000),
            # Two rounds in flight of up to relay_batch_size notifications, each with a
            # few records: well inside this, so produce() never meets a full queue.
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1024 * 1024,
        }, logger=log)  # fmt: skip
        self._partitions: dict[str, list[int]] = {}
        self._forget_partitions()

    def connect(self) -> None:
        """Connects to the broker now, rather than at the first round."""
        try:
            self._producer.list_topics(timeout=10)
        except KafkaException as error:
            raise KafkaError(f"no metadata from the broker: {error}") from error

    def partitions_for(self, topic: str) -> list[int]:
        """The topic's partitions, sorted, as the broker's metadata had them at most
        PARTITIONS_MAX_AGE_S ago (read again at once for a topic not known yet)."""
        now = time.monotonic()
        if now - self._partitions_read_at > PARTITIONS_MAX_AGE_S or topic not in self._partitions:
            self._read_partitions(topic)
            self._partitions_read_at = now
        return self._partitions[topic]

    def send(self, topic: str, partition: int | None, key: bytes | None, value: bytes,
             headers: list[tuple[str, bytes]]) -> Acknowledgement:
        """`partition` None: the client's partitioner chooses (a record with no key)."""
        acknowledgement = Acknowledgement()
        target = _ANY_PARTITION if partition is None else partition
        try:
            self._producer.produce(topic, value, key, target, headers=headers,
                                   on_delivery=acknowledgement)  # fmt: skip
        except (KafkaException, BufferError) as error:
            # An unknown partition (the topic changed under the round) or a full queue:
            # the round is redone from the checkpoint, with partitions read again.
            self._forget_partitions()
            raise KafkaError(f"{topic}/{partition}: not handed to the producer: {error}") from error
        return acknowledgement

    def serve(self) -> None:
        """Runs the delivery reports that have arrived, without waiting."""
        self._producer.poll(0)

    def wait_for(self, acknowledgement: Acknowledgement, deadline: float) -> None:
        """Until the record is acknowledged; raises KafkaError if it failed or the
        monotonic `deadline` passed first."""
        while not acknowledgement.done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KafkaError(f"no acknowledgement in {ACKNOWLEDGEMENT_TIMEOUT_S:.0f} s")
            self._producer.poll(min(remaining, 0.1))
        if acknowledgement.error is not None:
            self._forget_partitions()
            raise KafkaError(f"record not acknowledged: {acknowledgement.error}")

    def close(self, timeout: float = 5.0) -> None:
        """Waits up to `timeout` for what is in flight, then drops the rest (a relay
        that closes has checkpointed only what was acknowledged)."""
        self._producer.flush(timeout)
        self._producer.purge()
        self._producer.poll(0)

    def _forget_partitions(self) -> None:
        """The next round reads the partition counts again."""
        self._partitions_read_at = float("-inf")

    def _read_partitions(self, topic: str) -> None:
        try:
            metadata = self._producer.list_topics(timeout=10)
        except KafkaException as error:
            raise KafkaError(f"no metadata from the broker: {error}") from error
        self._partitions = {
            name: sorted(found.partitions)
            for name, found in metadata.topics.items()
            if found.error is None and found.partitions
        }
        if topic not in self._partitions:
            # Asking for the topic itself has the broker make it (as kafka-python's
            # metadata request for a topic it sends to does).
            try:
                found = self._producer.list_topics(topic, timeout=10).topics.get(topic)
            except KafkaException as error:
                raise KafkaError(f"no metadata for {topic}: {error}") from error
            if found is None or found.error is not None or not found.partitions:
                raise KafkaError(f"{topic}: no partitions known"
                                 f" ({found.error if found is not None else 'no such topic'})")
            self._partitions[topic] = sorted(found.partitions)
