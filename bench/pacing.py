"""Publishing at a steady rate, remembering when each record was sent.

With librdkafka (confluent-kafka), as an integrator's system might: its producer
batches and sends from a thread of its own in C, so the load this puts on the
machine is small beside the backbone's (kafka-python's producer took ~0.15 of a
core at 2,000 records/s, out of the 2 the loops measured share)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from confluent_kafka import Producer

from registry.config import Settings

# How long the publisher batches: librdkafka's own default (bench/broker_fetch_cost.py
# tries others; the end-to-end stage takes --e2e-linger-ms).
DEFAULT_LINGER_MS = 5
PACING_TICK_S = 0.002


def numbered_records(count: int) -> Iterator[tuple[str, bytes, bytes]]:
    """(id, key, value) items whose value is their id, for a watcher that does not decode
    (OutcomeWatcher(decode=False) knows a record by its value)."""
    for i in range(count):
        yield f"m{i}", f"k{i % 97}".encode(), f"m{i}".encode()


def paced_publish(settings: Settings, topic: str, items: Iterator[tuple[str, bytes, bytes]],
                  rate: float, seconds: float,
                  on_send: Callable[[str, float], None] | None = None,
                  linger_ms: int = DEFAULT_LINGER_MS) -> tuple[int, float]:
    """Sends (id, key, value) items at `rate` per second for `seconds`; returns how many
    were sent and the rate achieved. Wall times of sends go to on_send(id, time)."""
    kafka = Producer({
        "bootstrap.servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable.idempotence": False,
        "linger.ms": linger_ms,
    })  # fmt: skip
    failed: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failed.append(str(error))

    kafka.list_topics(topic, timeout=30)
    total = int(rate * seconds)
    started = time.perf_counter()
    sent = 0
    for sent, (item_id, key, value) in enumerate(items, start=1):
        due = started + (sent - 1) / rate
        delay = due - time.perf_counter()
        # Records due within the next tick go together, each with its own send time:
        # a wake-up per record (every 0.5 ms at 2,000/s) took CPU from the loops
        # measured, and the producer batches for 5 ms anyway.
        if delay > PACING_TICK_S:
            time.sleep(delay)
        if on_send is not None:
            on_send(item_id, time.time())
        kafka.produce(topic, key=key, value=value, on_delivery=delivered)
        kafka.poll(0)
        if sent >= total:
            break
    if kafka.flush(30):
        raise TimeoutError(f"{topic}: records not delivered in 30 s")
    if failed:
        raise RuntimeError(f"{topic}: {len(failed)} records not delivered: {failed[0]}")
    elapsed = time.perf_counter() - started
    return sent, sent / elapsed if elapsed else float("nan")
