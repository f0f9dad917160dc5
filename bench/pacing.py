"""Publishing at a steady rate, remembering when each record was sent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from consumers.kafka import producer
from registry.config import Settings


def paced_publish(settings: Settings, topic: str, items: Iterator[tuple[str, bytes, bytes]],
                  rate: float, seconds: float,
                  on_send: Callable[[str, float], None] | None = None) -> tuple[int, float]:
    """Sends (id, key, value) items at `rate` per second for `seconds`; returns how many
    were sent and the rate achieved. Wall times of sends go to on_send(id, time)."""
    kafka = producer(settings)
    try:
        kafka.partitions_for(topic)
        total = int(rate * seconds)
        started = time.perf_counter()
        sent = 0
        for sent, (item_id, key, value) in enumerate(items, start=1):
            due = started + (sent - 1) / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if on_send is not None:
                on_send(item_id, time.time())
            kafka.send(topic, key=key, value=value)
            if sent >= total:
                break
        kafka.flush()
        elapsed = time.perf_counter() - started
        return sent, sent / elapsed if elapsed else float("nan")
    finally:
        kafka.close(timeout=5)
