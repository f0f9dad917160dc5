"""What an integrator sees, with the time it saw it: outcomes on registry.change-outcomes
and members appearing in the read models (rm_versions)."""

from __future__ import annotations

import threading
import time
from itertools import islice

from kafka import TopicPartition

from bench.env import connect
from consumers.kafka import consumer
from registry.config import Settings
from schemas import topics
from schemas.catalog import load_catalog


class OutcomeWatcher(threading.Thread):
    """request id → wall time its first outcome arrived; and, for decoded outcomes, the
    hops on the way (`stamps`: the outcome's recorded time, set by the ingest as it
    handled the request, and the record's Kafka timestamp, set by the relay's producer
    as it sent it), to tell where a latency comes from."""

    def __init__(self, settings: Settings, topic: str = topics.CHANGE_OUTCOMES,
                 decode: bool = True) -> None:
        super().__init__(name="bench-outcomes", daemon=True)
        self.settings = settings
        self.topic = topic
        self.decode = decode
        self.seen: dict[str, float] = {}
        self.stamps: dict[str, tuple[float, float]] = {}
        self.stop = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        kafka = consumer(self.settings, group_id=None, fetch_max_wait_ms=10)
        catalog = load_catalog()
        try:
            parts: set[int] = set()
            while not parts and not self.stop.is_set():
                parts = kafka.partitions_for_topic(self.topic) or set()
                if not parts:
                    time.sleep(0.1)
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            kafka.assign(tps)
            kafka.seek_to_beginning(*tps)
            self.ready.set()
            while not self.stop.is_set():
                for records in kafka.poll(timeout_ms=50).values():
                    now = time.time()
                    for record in records:
                        if self.decode:
                            outcome = catalog.decode(record.value)[1]
                            request_id = outcome["request_id"]
                            self.stamps.setdefault(request_id, (
                                outcome["recorded_at"].timestamp(), record.timestamp / 1000
                            ))
                        else:
                            request_id = record.value.decode()
                        self.seen.setdefault(request_id, now)
        finally:
            kafka.close()


class RosterWatcher(threading.Thread):
    """member id → wall time it first appeared in rm_versions, for the ids asked about."""

    def __init__(self, schema: str, interval_s: float = 0.02, window: int = 2000) -> None:
        super().__init__(name="bench-roster", daemon=True)
        self.schema = schema
        self.interval_s = interval_s
        self.window = window  # the oldest ids asked about each time (they arrive in order)
        self.pending: dict[str, None] = {}
        self.seen: dict[str, float] = {}
        self.stamps: dict[str, tuple[float, float]] = {}
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def expect(self, member_id: str) -> None:
        with self._lock:
            self.pending[member_id] = None

    def run(self) -> None:
        with connect(self.schema) as conn:
            while not self.stop.is_set():
                with self._lock:
                    asked = list(islice(self.pending, self.window))
                if asked:
                    try:
                        rows = conn.execute(
                            "SELECT aggregate_id FROM rm_versions WHERE aggregate_id = ANY(%s)",
                            (asked,),
                        ).fetchall()
                    except Exception:  # the projector has not created its tables yet
                        rows = []
                    now = time.time()
                    with self._lock:
                        for (member_id,) in rows:
                            self.seen.setdefault(member_id, now)
                            self.pending.pop(member_id, None)
                self.stop.wait(self.interval_s)
