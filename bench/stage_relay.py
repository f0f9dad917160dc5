"""Stage 2, relay: store → Avro records on Kafka, against kafka-python producing the
same bytes with nothing behind it."""

from __future__ import annotations

import time

from bench.env import Env
from bench.rawkafka import Record, Timed, consume, produce
from consumers.kafka import ensure_topics
from consumers.relay import RELAYED_TOPICS, Relay
from registry.store import EventStore
from schemas.catalog import load_catalog


def measure_relay(env: Env, store: EventStore, timeout_s: float) -> float:
    """Publishes the whole store, round after round; returns the seconds it took."""
    ensure_topics(env.settings, RELAYED_TOPICS)
    relay = Relay(env.settings, store, load_catalog())
    try:
        # Connect the producer and start the reader process before timing: the raw
        # baseline's producer is connected before its clock starts too.
        relay.warm_up()
        started = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        while relay.run_once():
            if time.monotonic() > deadline:
                raise TimeoutError("the relay did not publish the store in time")
        return time.perf_counter() - started
    finally:
        relay.close()


def published_records(env: Env) -> list[Record]:
    """What the relay put on its topics, read back in full (for the raw baseline)."""
    records: list[Record] = []

    def keep(record: object) -> None:
        records.append(Record(record.topic, record.key, record.value,  # type: ignore[attr-defined]
                              list(record.headers)))  # type: ignore[attr-defined]

    consume(env.settings, RELAYED_TOPICS, idle_s=1.5, on_record=keep)
    return records


def measure_raw_produce(env: Env, records: list[Record]) -> Timed:
    return produce(env.settings, records)
