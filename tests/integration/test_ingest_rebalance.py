"""The ingest's partitions during a rebalance, against the real broker: a partition the
group takes back is no longer resumed by the ingest's loop, although kafka-python's
assignment() still names it until the group agrees on the new one (resumed from it, a
revoked partition was handled beside its new owner); and records are read back with a
reader made after the rebalance."""

from __future__ import annotations

import time
from pathlib import Path

from kafka import TopicPartition

from consumers.ingest import Ingest, _Rebalance
from consumers.kafka import ensure_topics
from registry.broker import LocalBroker
from registry.runtime import ingest_context
from registry.store import open_event_store
from schemas import topics
from tests.conftest import make_settings


def test_a_revoked_partition_is_not_resumed_while_the_group_rebalances(
    tmp_path: Path, broker: LocalBroker
) -> None:
    settings = make_settings(tmp_path, broker, None)
    ensure_topics(settings, [topics.CHANGE_REQUESTS])
    store = open_event_store(settings)
    ingest = Ingest(settings, store, ingest_context(settings))
    try:
        ingest._join()
        consumer = ingest._consumer
        assert consumer is not None
        everything = {TopicPartition(topics.CHANGE_REQUESTS, p)
                      for p in range(settings.partitions)}  # fmt: skip
        deadline = time.monotonic() + 30
        while ingest.partitions.keys() != everything and time.monotonic() < deadline:
            consumer.poll(timeout_ms=100, max_records=10)
            ingest._resume_missing()
        assert ingest.partitions.keys() == everything
        tp0 = TopicPartition(topics.CHANGE_REQUESTS, 0)
        # A rebalance begins: the listener is told first; kafka-python's assignment
        # changes only when the group has agreed on the new one.
        _Rebalance(ingest).on_partitions_revoked([tp0])
        assert tp0 in consumer.assignment()
        assert ingest._resume_missing() == set()
        assert ingest.partitions.keys() == everything - {tp0}
        # Given back in the new assignment, it is resumed again.
        _Rebalance(ingest).on_partitions_assigned([tp0])
        assert ingest._resume_missing() == {tp0}
    finally:
        if ingest._consumer is not None:
            ingest._consumer.close(autocommit=False)
        store.close()


def test_after_a_revoke_records_are_read_back_with_a_new_reader(
    tmp_path: Path, broker: LocalBroker
) -> None:
    """A reader made before a broker restart may hand back a record of the lost log from
    its buffer (consumers/partition_log.py); the group notices the restart as a
    rebalance, and the reader made before it is not used again."""
    settings = make_settings(tmp_path, broker, None)
    ensure_topics(settings, [topics.CHANGE_REQUESTS])
    store = open_event_store(settings)
    ingest = Ingest(settings, store, ingest_context(settings))
    try:
        before = ingest._reader_client()
        assert ingest._reader_client() is before
        _Rebalance(ingest).on_partitions_revoked([TopicPartition(topics.CHANGE_REQUESTS, 0)])
        after = ingest._reader_client()
        assert after is not before
        assert ingest._reader_client() is after
        assert after.at(TopicPartition(topics.CHANGE_REQUESTS, 0), 0) is None  # it works
    finally:
        if ingest._reader is not None:
            ingest._reader.close()
        store.close()
