"""Kafka clients with the settings every loop shares, chosen for both Tansu and Apache Kafka."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from registry.config import Settings

log = logging.getLogger(__name__)

MAX_RECORD_BYTES = 20 * 1024 * 1024


def producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    # Not idempotent: Tansu forgets producer ids when it restarts and an idempotent
    # producer then dies for good. One request in flight keeps per-key order on retries
    # without idempotence, on Tansu and on Apache Kafka alike.
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": False,
        "retries": 10,
        "max_in_flight_requests_per_connection": 1,
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_request_size": MAX_RECORD_BYTES,
        "request_timeout_ms": 15000,
        "retry_backoff_ms": 200,
    }
    config.update(overrides)
    return KafkaProducer(**config)


def consumer(settings: Settings, *, group_id: str | None, **overrides: Any) -> KafkaConsumer:
    # Positions live in the database, committed with what they caused, so Kafka's own
    # offset commits are off. A short session makes the first group join take ~3 s on
    # Tansu (it waits session_timeout / 2) and is still valid on Apache Kafka.
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.group_session_timeout_ms,
        "heartbeat_interval_ms": 1000,
        "max_poll_interval_ms": 300000,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": MAX_RECORD_BYTES,
        "fetch_max_wait_ms": settings.fetch_wait_ms,
        "request_timeout_ms": 30000,
    }
    config.update(overrides)
    return KafkaConsumer(**config)


def ensure_topics(settings: Settings, topics: Iterable[str], *, timeout_s: float = 30) -> None:
    """Creates the topics with the configured partition count (auto-creation would give
    whatever the broker defaults to)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
            try:
                existing = set(admin.list_topics())
                missing = [t for t in topics if t not in existing]
                if missing:
                    with contextlib.suppress(TopicAlreadyExistsError):
                        admin.create_topics([NewTopic(t, settings.partitions, 1) for t in missing])
                return
            finally:
                admin.close()
        except KafkaError as error:
            if time.monotonic() > deadline:
                raise
            log.info("broker not ready (%s); retrying", error)
            time.sleep(0.5)
