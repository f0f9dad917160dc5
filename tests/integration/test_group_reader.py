"""The live projector's consumer (consumers/group_reader.py) against the real broker:
kafka-python keeps the group, librdkafka fetches. Two members share the partitions
between them; when one leaves, the other is given its partitions and reads each from
where its listener seeks, as with kafka-python's own consumer."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kafka import ConsumerRebalanceListener, TopicPartition

from consumers.group_reader import GroupReader, _Fetching
from consumers.kafka import ensure_topics, producer
from registry.broker import LocalBroker
from registry.config import Settings
from tests.conftest import make_settings

TOPIC = "test.group-reader"
GROUP = "test-group-reader"


def _publish(settings: Settings, count: int) -> None:
    kafka = producer(settings)
    try:
        for i in range(count):
            kafka.send(TOPIC, key=f"k{i % 13}".encode(), value=f"v{i}".encode(),
                       headers=[("n", str(i).encode())])  # fmt: skip
        kafka.flush()
    finally:
        kafka.close()


class _Listener(ConsumerRebalanceListener):
    """Seeks each partition it is given to `start[tp]` (0 if absent), as the projector
    seeks to the position its database holds."""

    def __init__(self, member: GroupReader, start: dict[TopicPartition, int]) -> None:
        self.member, self.start = member, start
        self.assigned: list[set[TopicPartition]] = []

    def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.assigned.append(set(assigned))
        for tp in assigned:
            self.member.seek(tp, self.start.get(tp, 0))


def _member(settings: Settings, start: dict[TopicPartition, int]) -> tuple[GroupReader, _Listener]:
    member = GroupReader(settings, group_id=GROUP)
    listener = _Listener(member, start)
    member.subscribe([TOPIC], listener)
    return member, listener


def _poll_all(members: list[GroupReader], seconds: float
              ) -> list[dict[TopicPartition, list[Any]]]:
    """Polls every member for `seconds`, each in a thread of its own as each projector
    is a process of its own (kafka-python drops a join that completes while its member
    is not polling); what each read, by partition."""
    got: list[dict[TopicPartition, list[Any]]] = [{} for _ in members]
    deadline = time.monotonic() + seconds

    def poll(member: GroupReader, out: dict[TopicPartition, list[Any]]) -> None:
        while time.monotonic() < deadline:
            for tp, records in member.poll(timeout_ms=100, max_records=500).items():
                out.setdefault(tp, []).extend(records)

    threads = [threading.Thread(target=poll, args=pair) for pair in zip(members, got,
                                                                         strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got


def test_members_share_the_partitions_and_a_leaver_s_are_taken_over(
    tmp_path: Path, broker: LocalBroker
) -> None:
    settings = make_settings(tmp_path, broker, None)
    ensure_topics(settings, [TOPIC])
    _publish(settings, 400)
    tps = {TopicPartition(TOPIC, p) for p in range(settings.partitions)}
    first, _ = _member(settings, {})
    second, second_listener = _member(settings, {})
    members = [first, second]
    try:
        got = _poll_all([first, second], 15)
        mine = [first.assignment(), second.assignment()]
        # The group gave each member some partitions, none to both, all of them in all.
        assert mine[0] and mine[1] and not mine[0] & mine[1] and mine[0] | mine[1] == tps
        for member_got, member_tps in zip(got, mine, strict=True):
            assert set(member_got) <= member_tps  # nothing read of another's partitions
        read = {tp: [r.offset for r in rs] for g in got for tp, rs in g.items()}
        assert sum(map(len, read.values())) == 400
        assert all(offsets == list(range(len(offsets))) for offsets in read.values())

        # The first leaves; the second is given its partitions and reads each from where
        # its listener seeks it (the position after what the first had read).
        ends = {tp: len(read.get(tp, [])) for tp in mine[0]}
        second_listener.start.update({tp: max(0, end - 5) for tp, end in ends.items()})
        second_listener.start.update({tp: len(read.get(tp, [])) for tp in mine[1]})
        first.close()
        members.remove(first)
        taken = _poll_all([second], 15)[0]
        assert second.assignment() == tps
        assert second_listener.assigned[-1] == tps
        for tp, end in ends.items():
            assert [r.offset for r in taken.get(tp, [])] == list(range(max(0, end - 5), end))
        assert all(not taken.get(tp) for tp in mine[1])  # its own went on from their end
    finally:
        for member in members:
            member.close()


class _Revoking(ConsumerRebalanceListener):
    """As the projector's: seeks what it is given; records what the member still names
    as its own while it drops revoked partitions (the projector's loop looks meanwhile
    for owned partitions it has not taken up)."""

    def __init__(self, member: GroupReader) -> None:
        self.member = member
        self.assigned: set[TopicPartition] = set()
        self.owned_while_revoking: set[TopicPartition] | None = None

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.owned_while_revoking = self.member.assignment()

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.assigned |= set(assigned)
        for tp in assigned:
            self.member.seek(tp, 0)


def test_revoked_partitions_are_no_longer_the_member_s_while_the_group_rebalances(
    tmp_path: Path, broker: LocalBroker
) -> None:
    # kafka-python's own assignment() still names revoked partitions until the
    # rebalance completes; a projector that took them up again from its loop read them
    # beside their new owner. The member's partitions follow the listener instead.
    settings = make_settings(tmp_path, broker, None)
    ensure_topics(settings, [TOPIC])
    member = GroupReader(settings, group_id=f"{GROUP}-owned")
    listener = _Revoking(member)
    member.subscribe([TOPIC], listener)
    try:
        deadline = time.monotonic() + 30
        while len(listener.assigned) < settings.partitions and time.monotonic() < deadline:
            member.poll(timeout_ms=100, max_records=10)
        tps = {TopicPartition(TOPIC, p) for p in range(settings.partitions)}
        assert listener.assigned == tps and member.assignment() == tps
        tp0 = TopicPartition(TOPIC, 0)
        # A rebalance begins: the listener is told first, kafka-python's assignment
        # changes only when the group has agreed on the new one.
        _Fetching(member, listener).on_partitions_revoked([tp0])
        assert tp0 in member._group.assignment()
        assert listener.owned_while_revoking == tps - {tp0}
        assert member.assignment() == tps - {tp0}
        with pytest.raises(ValueError, match="not assigned"):
            member.seek(tp0, 0)
        member.seek(TopicPartition(TOPIC, 1), 0)
    finally:
        member.close()
