"""How the relay hands a round to the producer: partition by partition, each partition's
records in store order, outcomes after the events they caused."""

from __future__ import annotations

import random
from uuid import uuid4

from kafka.partitioner.default import DefaultPartitioner, murmur2

from consumers.relay import _hand_over_order
from consumers.relay_reader import key_hash
from schemas import topics


class _Cluster:
    def __init__(self, partitions: set[int]) -> None:
        self._partitions = partitions

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self._partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self._partitions


def test_the_partition_is_the_one_the_producer_would_choose() -> None:
    partitioner = DefaultPartitioner()
    for count in (1, 3, 4, 7):
        cluster = _Cluster(set(range(count)))
        for _ in range(200):
            key = str(uuid4()).encode()
            expected = partitioner.partition("t", key, key, None, None, cluster)
            assert sorted(range(count))[key_hash(key) % count] == expected


def test_the_key_hash_is_kafka_pythons_murmur2() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        key = rng.randbytes(rng.randrange(0, 64))
        assert key_hash(key) == murmur2(key) & 0x7FFFFFFF


def test_outcomes_go_after_the_events_and_partitions_in_order() -> None:
    groups = [
        (topics.CHANGE_OUTCOMES, 0),
        (topics.DEAD_LETTERS, None),
        (topics.MEMBER_EVENTS, 2),
        (topics.ORGANISATION_EVENTS, 1),
        (topics.MEMBER_EVENTS, 0),
        (topics.ANCHORS, 0),
        (topics.DEAD_LETTERS, 1),
    ]
    ordered = sorted(groups, key=_hand_over_order)
    assert ordered[-1] == (topics.CHANGE_OUTCOMES, 0)
    assert ordered[-3:-1] == [(topics.DEAD_LETTERS, None), (topics.DEAD_LETTERS, 1)]
    members = [g for g in ordered if g[0] == topics.MEMBER_EVENTS]
    assert members == [(topics.MEMBER_EVENTS, 0), (topics.MEMBER_EVENTS, 2)]
