"""Reading whole partitions fast, for a rebuild's load: librdkafka (confluent-kafka)
instead of kafka-python, behind the few calls a loading worker makes of a consumer.

Why a second client: a rebuild reads every record of the event topics once, and in
kafka-python the record parsing is Python (a varint call per field, a list and tuple
per header): a quarter of a loading worker's time at the city (py-spy, 2026-11-26), the
largest single cost of a load that is CPU-bound on 2 cores. librdkafka parses in C and
prefetches in a thread of its own while the worker applies. The live projector reads
with it too, while kafka-python keeps its group membership (consumers/group_reader.py);
the ingest and the read-back checks keep kafka-python.

Only what a partition reader outside any group needs: assign (or add and remove),
seek, poll (records by partition, the shape kafka-python's poll gives), close. No group,
no offset commits: positions live in the database (projections/rebuild_load.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import NamedTuple

from confluent_kafka import Consumer, KafkaException
from confluent_kafka import TopicPartition as RdTopicPartition
from kafka import TopicPartition

from consumers.collector import collector_paused
from consumers.kafka import MAX_RECORD_BYTES
from registry.config import Settings

log = logging.getLogger(__name__)


class ReadRecord(NamedTuple):
    """A record as the projector reads it (the fields of kafka-python's ConsumerRecord
    it uses)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


class BulkReader:
    """Partitions read from given offsets, outside any consumer group."""

    def __init__(
        self, settings: Settings, *, prefetch_kbytes: int = 32 * 1024,
        fetch_kbytes: int = 64 * 1024,
    ) -> None:
        """`prefetch_kbytes`: how much is fetched ahead of the caller; `fetch_kbytes`: the
        most one fetch brings (a record larger than that still comes, alone)."""
        if settings.kafka_bootstrap is None:
            raise ValueError("kafka_bootstrap: a bulk reader needs the broker's address")
        self._consumer = Consumer({
            "bootstrap.servers": settings.kafka_bootstrap,
            # Required by the client, never used: assign() joins no group, and nothing
            # is committed.
            "group.id": "registry-rebuild-reader",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,  # the end of a partition is no error
            "fetch.wait.max.ms": settings.fetch_wait_ms,
            "fetch.max.bytes": fetch_kbytes * 1024,
            "max.partition.fetch.bytes": MAX_RECORD_BYTES,
            "receive.message.max.bytes": 64 * 1024 * 1024 + 1024 * 1024,
            # The prefetch queue: enough for a batch or two ahead, not the whole topic.
            "queued.max.messages.kbytes": prefetch_kbytes,
            "socket.timeout.ms": 30000,
        }, logger=log)  # fmt: skip
        self._offsets: dict[TopicPartition, int] = {}
        self._waiting: set[TopicPartition] = set()  # added, not sought yet
        # A group member's listener adds and removes partitions from kafka-python's IO
        # thread while the loop's thread polls and seeks (consumers/group_reader.py).
        self._lock = threading.RLock()

    def assign(self, tps: Sequence[TopicPartition]) -> None:
        """Reads these partitions from their start until seek says otherwise."""
        with self._lock:
            self._offsets = {tp: 0 for tp in tps}
            self._waiting = set()
            self._reassign()

    def holds(self, tp: TopicPartition) -> bool:
        """Whether this partition is assigned (read, or waiting for its first seek)."""
        with self._lock:
            return tp in self._offsets or tp in self._waiting

    def add(self, tps: Sequence[TopicPartition]) -> None:
        """These partitions too, read from where the first seek of each sends it (a
        group member's new partitions, whose positions the caller looks up): nothing
        is fetched for one before."""
        with self._lock:
            self._waiting.update(tp for tp in tps if tp not in self._offsets)

    def remove(self, tps: Sequence[TopicPartition]) -> None:
        """No longer read; what was prefetched for them is dropped."""
        with self._lock:
            gone = [tp for tp in tps if self._offsets.pop(tp, None) is not None]
            self._waiting.difference_update(tps)
            if gone:
                self._reassign()

    def seek(self, tp: TopicPartition, offset: int) -> None:
        # librdkafka's own seek fails on a partition not yet fetching; assigning again
        # with the offsets restarts the partitions' fetches there, and drops what had
        # been prefetched from the old position.
        with self._lock:
            if tp not in self._offsets and tp not in self._waiting:
                raise ValueError(f"{tp} is not assigned")
            self._waiting.discard(tp)
            self._offsets[tp] = offset
            self._reassign()

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[ReadRecord]]:
        """Up to `max_records` records, by partition, each partition's in offset order;
        waits up to `timeout_ms` for the first."""
        # A poll allocates a few objects per record, none in reference cycles; with
        # the cycle collector on, its passes took four fifths of a poll's time (200,000
        # records: 2.0 s, against 0.35 s paused).
        with collector_paused():
            return self._poll(timeout_ms, max_records)

    def _poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[ReadRecord]]:
        polled: dict[TopicPartition, list[ReadRecord]] = {}
        partitions: dict[tuple[str, int], TopicPartition] = {}
        for message in self._consumer.consume(max_records, timeout_ms / 1000):
            error = message.error()
            if error is not None:
                # librdkafka reports a broker gone or restarting here too and keeps
                # trying, as kafka-python does quietly: only a fatal error ends a load
                # (one that never gets its records ends when it has been idle too long).
                if error.fatal():
                    raise KafkaException(error)
                log.warning("reading %s [%s]: %s", message.topic(), message.partition(), error)
                continue
            topic, partition = message.topic(), message.partition()
            tp = partitions.get((topic, partition))
            if tp is None:
                tp = partitions[(topic, partition)] = TopicPartition(topic, partition)
                polled[tp] = []
            offset = message.offset()
            polled[tp].append(ReadRecord(
                topic, partition, offset, message.key(), message.value(),
                message.headers() or [],
            ))  # fmt: skip
        with self._lock:
            for tp, records in list(polled.items()):
                if tp in self._offsets:
                    self._offsets[tp] = records[-1].offset + 1
                else:
                    del polled[tp]  # fetched before it was removed
        return polled

    def close(self, autocommit: bool = False) -> None:
        # `autocommit` as kafka-python's close takes it: nothing is ever committed here.
        del autocommit
        self._consumer.close()

    def _reassign(self) -> None:
        self._consumer.assign([
            RdTopicPartition(tp.topic, tp.partition, offset)
            for tp, offset in self._offsets.items()
        ])
