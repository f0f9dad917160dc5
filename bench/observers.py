"""What an integrator sees, with the time it saw it: outcomes on registry.change-outcomes
and members appearing in the read models (rm_versions)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message
from confluent_kafka import TopicPartition as RdTopicPartition

from bench.env import connect
from registry.config import Settings
from schemas import topics
from schemas.catalog import load_catalog


class OutcomeWatcher(threading.Thread):
    """request id → wall time its first outcome arrived; and, for decoded outcomes, the
    hops on the way (`stamps()`: the outcome's recorded time, set by the ingest as it
    handled the request, and the record's Kafka timestamp, set by the relay's producer
    as it sent it), to tell where a latency comes from.

    An outcome is known by its key (the request id) as it arrives; its value is decoded
    for the stamps only when asked, after the run: decoding each as it came took ~0.05
    CPU ms a request from the machine whose latency was measured (an integrator's own
    decoding is not the backbone's latency)."""

    def __init__(self, settings: Settings, topic: str = topics.CHANGE_OUTCOMES,
                 decode: bool = True) -> None:
        super().__init__(name="bench-outcomes", daemon=True)
        self.settings = settings
        self.topic = topic
        self.decode = decode
        self.seen: dict[str, float] = {}
        self._kept: list[tuple[str, bytes, float]] = []  # request id, value, Kafka time
        self.stop = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        # librdkafka, as for the publisher: kafka-python's consumer parsing the outcomes
        # took ~0.15 of a core from the loops measured.
        kafka = Consumer({
            "bootstrap.servers": self.settings.kafka_bootstrap,
            "group.id": "bench-outcomes",  # required by the client; assign() joins no group
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        })  # fmt: skip
        try:
            kafka.assign([RdTopicPartition(self.topic, p, OFFSET_BEGINNING)
                          for p in self._partitions(kafka)])
            self.ready.set()
            while not self.stop.is_set():
                # poll returns as soon as a record is there; consume(…, 0) then takes what
                # else has arrived without waiting (consume with a timeout waits it out
                # unless the count is reached).
                first = kafka.poll(0.05)
                if first is None:
                    continue
                now = time.time()
                for message in (first, *kafka.consume(5000, 0)):
                    if message.error() is None:
                        self._saw(message, now)
        finally:
            kafka.close()

    def _partitions(self, kafka: Consumer) -> list[int]:
        while not self.stop.is_set():
            found = kafka.list_topics(self.topic, timeout=10).topics.get(self.topic)
            if found is not None and found.error is None and found.partitions:
                return sorted(found.partitions)
            time.sleep(0.1)
        return []

    def _saw(self, message: Message, now: float) -> None:
        value = message.value() or b""
        if not self.decode:
            self.seen.setdefault(value.decode(), now)
            return
        request_id = (message.key() or b"").decode()
        if request_id not in self.seen:
            self.seen[request_id] = now
            self._kept.append((request_id, value, message.timestamp()[1] / 1000))

    def stamps(self) -> dict[str, tuple[float, float]]:
        """request id → (recorded at, sent at) of its first outcome, in wall seconds."""
        catalog = load_catalog()
        found = {}
        for request_id, value, sent_at in self._kept:
            outcome = catalog.decode(value)[1]
            found[request_id] = (outcome["recorded_at"].timestamp(), sent_at)
        return found


class RosterWatcher(threading.Thread):
    """member id → wall time it first appeared in rm_versions, for the ids asked about.

    The ids are looked up only when the projector has committed since the last look
    (its positions in rm_offsets moved, in the same transaction as its rows): looking
    up a couple of thousand ids every few milliseconds took a sixth of a core from the
    machine whose latency it measured, and the server's time with it."""

    def __init__(self, schema: str, interval_s: float = 0.01, chunk: int = 2000) -> None:
        super().__init__(name="bench-roster", daemon=True)
        self.schema = schema
        self.interval_s = interval_s
        self.chunk = chunk  # ids asked about in one query, one query a tick
        self.pending: dict[str, None] = {}
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def expect(self, member_id: str) -> None:
        with self._lock:
            self.pending[member_id] = None

    def run(self) -> None:
        with connect(self.schema) as conn:
            looked_at: object = None
            to_look_up: list[str] = []  # this pass's ids not looked up yet, oldest first
            while not self.stop.is_set():
                try:
                    positions = conn.execute(
                        "SELECT count(*), coalesce(sum(next_offset), 0), coalesce(sum(epoch), 0)"
                        " FROM rm_offsets"
                    ).fetchone()
                except Exception:  # the projector has not created its tables yet
                    positions = None
                if positions is not None and positions != looked_at:
                    looked_at = positions
                    with self._lock:
                        to_look_up = list(self.pending)
                # One query a tick at most: a pass over thousands of pending ids at once
                # took seconds on the busy machine, each pass longer as more piled up.
                if to_look_up:
                    self._look_up(conn, to_look_up[: self.chunk])
                    del to_look_up[: self.chunk]
                self.stop.wait(self.interval_s)

    def _look_up(self, conn: psycopg.Connection[Any], ids: list[str]) -> None:
        # The ids as one text, split by the server: psycopg's dumping of a list of 2,000
        # strings was a sixth of this process's samples (py-spy) on the machine measured.
        rows = conn.execute(
            "SELECT aggregate_id FROM rm_versions"
            " WHERE aggregate_id = ANY(string_to_array(%s, ','))", (",".join(ids),)
        ).fetchall()
        now = time.time()
        with self._lock:
            for (member_id,) in rows:
                self.seen.setdefault(member_id, now)
                self.pending.pop(member_id, None)
