"""A loading worker reads one relay epoch: it stops, without applying it, at the first
poll that brings a later one (the broker lost its log and the relay published the store
again, whose members may sit in another worker's partitions), and otherwise waits for
records before it leaves its targets to the catch-up (projections/rebuild_load.py).
Stand-ins for the reader and the projector: the loop's rule, not their work."""

from __future__ import annotations

from typing import Any

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from consumers.projector import Position
from projections.rebuild_load import Loaded, Share, _apply_until_caught_up
from schemas import topics

TP = TopicPartition(topics.MEMBER_EVENTS, 0)


def _record(offset: int, epoch: int) -> ConsumerRecord:
    headers = [(topics.EPOCH, str(epoch).encode())]
    return ConsumerRecord(TP.topic, TP.partition, -1, offset, 0, 0, b"k", b"v", headers,
                          None, 1, 1, 0)  # fmt: skip


class Reader:
    def __init__(self, polls: list[list[ConsumerRecord]]) -> None:
        self.polls = polls

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, list[ConsumerRecord]]:
        return {TP: self.polls.pop(0)} if self.polls else {}


class Projector:
    def __init__(self) -> None:
        self.positions = {TP: Position(0, 0, None)}
        self.applied: list[int] = []

    def process_polled(self, polled: dict[Any, list[ConsumerRecord]]) -> None:
        for record in polled[TP]:
            self.applied.append(record.offset)
            self.positions[TP] = Position(1, record.offset + 1, None)


def _load(polls: list[list[ConsumerRecord]], target: tuple[int, int], patience_s: float
          ) -> tuple[Loaded, Projector]:
    projector = Projector()
    share = Share(1, 0, ((TP.topic, TP.partition),), patience_s)
    loaded = _apply_until_caught_up(projector, Reader(polls), share,  # type: ignore[arg-type]
                                    {TP: target}, lambda: False)  # fmt: skip
    return loaded, projector


def test_a_worker_stops_at_a_later_epoch_without_applying_it() -> None:
    polls = [[_record(0, 1), _record(1, 1)], [_record(0, 2), _record(1, 2)]]
    loaded, projector = _load(polls, target=(1, 10), patience_s=5)
    assert projector.applied == [0, 1]  # the second poll, of epoch 2, left to the catch-up
    assert not loaded.reached and loaded.records == 2


def test_the_live_generations_epoch_bounds_the_load_from_its_first_record() -> None:
    # The live generation stands in epoch 1; the log holds only epoch 2 (made again
    # after the broker lost it): nothing of it is loaded.
    loaded, projector = _load([[_record(0, 2)]], target=(1, 10), patience_s=5)
    assert projector.applied == [] and not loaded.reached


def test_a_worker_reaching_its_targets_says_so() -> None:
    loaded, projector = _load([[_record(0, 1), _record(1, 1)]], target=(1, 2), patience_s=5)
    assert projector.applied == [0, 1] and loaded.reached


def test_a_worker_that_gets_nothing_waits_its_patience_then_leaves_the_rest() -> None:
    loaded, projector = _load([[_record(0, 1)]], target=(1, 10), patience_s=0.3)
    assert projector.applied == [0] and not loaded.reached
