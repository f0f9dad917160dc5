"""The relay's rounds over a real (SQLite) store with a stand-in producer: every event
published once per epoch, each partition in store order, an outcome never before the
events it caused, every block sealed as the store reads it."""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import KafkaError

from consumers.relay import Relay
from consumers.relay_producer import Acknowledgement
from registry.anchors import verify
from registry.config import Settings
from schemas import topics
from schemas.catalog import load_catalog
from tests.unit.handler_world import C1, World


class _Producer:
    """As RelayProducer: every other record acknowledged at once, the rest only when
    the relay waits for them."""

    def __init__(self, partitions: int = 3, fail: bool = False) -> None:
        self.partitions = partitions
        self.fail = fail
        self.sent: list[tuple[str, int, bytes | None, dict[str, bytes]]] = []
        self._offsets: Counter[tuple[str, int]] = Counter()
        self._unanswered: dict[int, tuple[int, int]] = {}  # id(acknowledgement) → answer

    def partitions_for(self, topic: str) -> list[int]:
        return list(range(self.partitions))

    def send(self, topic: str, partition: int | None, key: bytes | None, value: bytes,
             headers: list[tuple[str, bytes]]) -> Acknowledgement:
        if self.fail:
            raise KafkaError(f"{topic}/{partition}: not handed to the producer: unknown partition")
        partition = 0 if partition is None else partition
        offset = self._offsets[(topic, partition)]
        self._offsets[(topic, partition)] += 1
        self.sent.append((topic, partition, key, dict(headers)))
        acknowledgement = Acknowledgement()
        if offset % 2 == 0:
            acknowledgement.partition, acknowledgement.offset = partition, offset
        else:
            self._unanswered[id(acknowledgement)] = (partition, offset)
        return acknowledgement

    def serve(self) -> None:
        pass

    def wait_for(self, acknowledgement: Acknowledgement, deadline: float) -> None:
        answer = self._unanswered.pop(id(acknowledgement), None)
        if answer is not None:
            acknowledgement.partition, acknowledgement.offset = answer

    def close(self, timeout: float | None = None) -> None:
        pass


def _relay(world: World, tmp_path: Path, producer: _Producer) -> Relay:
    settings = Settings(
        data_dir=tmp_path / "unused",
        member_id_key="ab" * 32,
        cipher_key=base64.b64encode(bytes(range(32))).decode(),
        relay_batch_size=40,
        anchor_block_size=25,
    )
    relay = Relay(settings, world.store, load_catalog(), reader_process=False)
    relay._producer = producer  # type: ignore[assignment]
    return relay


def test_rounds_publish_the_store_in_order_and_seal_it(world: World, tmp_path: Path) -> None:
    for _ in range(6):
        world.apply(world.person(), C1, 30)
    producer = _Producer()
    relay = _relay(world, tmp_path, producer)
    while relay.run_once():
        pass

    ids = [headers[topics.CE_ID] for _, _, _, headers in producer.sent]
    assert len(ids) == len(set(ids))
    assert {headers[topics.EPOCH] for *_, headers in producer.sent} == {b"1"}
    # Each partition in store order.
    last: dict[tuple[str, int], int] = {}
    for topic, partition, _, headers in producer.sent:
        position = int(headers[topics.POSITION])
        assert position > last.get((topic, partition), 0)
        last[(topic, partition)] = position
    # An outcome is handed over after the events of its round and the rounds before:
    # whatever was stored before it and published, was sent before it.
    sent_at = {int(h[topics.POSITION]): i for i, (*_, h) in enumerate(producer.sent)}
    events = {p for p, i in sent_at.items() if producer.sent[i][0] != topics.CHANGE_OUTCOMES}
    outcomes = set(sent_at) - events
    assert events and outcomes
    for outcome in outcomes:
        round_start = (outcome - 1) // 40 * 40 + 1  # rounds of 40 positions (no gaps here)
        assert all(sent_at[p] < sent_at[outcome] for p in sent_at if p < round_start)
        assert all(sent_at[p] < sent_at[outcome] for p in events if p < outcome)
    # Every block up to the checkpoint sealed, as verify reads the store.
    checked, findings = verify(world.store)
    assert checked >= 2 and findings == []
    assert checked == relay.position // 25


def test_a_partition_the_producer_no_longer_knows_redoes_the_round(
    world: World, tmp_path: Path
) -> None:
    relay = _relay(world, tmp_path, _Producer(fail=True))
    with pytest.raises(KafkaError, match="not handed to the producer"):
        relay.run_once()
    assert relay.position == 0


class _EmptyTopics:
    """A stand-in RecordReader: the broker holds nothing (or knows no partitions)."""

    def __init__(self, partitions: int = 3) -> None:
        self.count = partitions

    def partitions(self, topic: str) -> list[tuple[str, int]]:
        return [(topic, p) for p in range(self.count)]

    def empty(self, tps: list[Any]) -> bool:
        return True

    def close(self) -> None:
        pass


def test_empty_topics_after_rounds_of_unpublished_events_are_no_loss(tmp_path: Path) -> None:
    # A store of integrators' scopes only: its rounds move the checkpoint, publish nothing.
    world = World(tmp_path)
    producer = _Producer()
    relay = _relay(world, tmp_path, producer)
    while relay.run_once():
        pass
    assert relay.position > 0 and producer.sent == []
    relay._reader = _EmptyTopics()  # type: ignore[assignment]
    relay._check_topics_still_there(force=True)
    assert relay.epoch == 1


def _relay_one_member(world: World, tmp_path: Path) -> Relay:
    """A member's events published by one relay; returns a relay started again after it."""
    world.apply(world.person(), C1, 30)
    first = _relay(world, tmp_path, _Producer())
    while first.run_once():
        pass
    return _relay(world, tmp_path, _Producer())


def test_a_relay_started_again_on_empty_topics_publishes_a_new_epoch(
    world: World, tmp_path: Path
) -> None:
    again = _relay_one_member(world, tmp_path)
    again._reader = _EmptyTopics(partitions=0)  # type: ignore[assignment]
    again._check_topics_still_there(force=True)
    assert again.epoch == 1  # no partitions known yet: nothing learnt
    again._reader = _EmptyTopics()  # type: ignore[assignment]
    again._check_topics_still_there(force=True)
    assert again.epoch == 2


def test_a_store_relayed_before_the_published_mark_still_sees_a_loss(
    world: World, tmp_path: Path
) -> None:
    _relay_one_member(world, tmp_path).close()
    # As a store checkpointed by the relay before epochs were marked as published into.
    recorder = world.store.process_recorder
    table = "tracking"
    with recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        cursor.execute(f"DELETE FROM {table} WHERE application_name = 'relay@1#published'")
    again = _relay(world, tmp_path, _Producer())
    again._reader = _EmptyTopics()  # type: ignore[assignment]
    again._check_topics_still_there(force=True)
    assert again.epoch == 2
