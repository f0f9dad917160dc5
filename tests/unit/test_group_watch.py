"""A group member is made to join again only when nothing comes long after a loss its
loop noticed, a few times at most (a member with nothing to read also gets nothing), or
when its rebalance does not end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from consumers import group_watch
from consumers.group_watch import GroupWatch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(group_watch.time, "monotonic", clock)
    return clock


def test_without_a_loss_nothing_polled_is_never_stuck(clock: Clock) -> None:
    watch = GroupWatch(stuck_after_s=30, max_rejoins=5)
    for _ in range(10):
        assert not watch.stuck()
        clock.now += 100


def test_nothing_polled_long_after_a_loss_is_stuck_and_the_new_member_gets_its_time(
    clock: Clock,
) -> None:
    watch = GroupWatch(stuck_after_s=30, max_rejoins=5)
    watch.broker_lost()
    clock.now += 29
    assert not watch.stuck()
    clock.now += 2
    assert watch.stuck()
    clock.now += 29
    watch.broker_lost()  # the stuck member's checks find the old logs gone again
    assert not watch.stuck()
    clock.now += 2
    assert watch.stuck()


@pytest.mark.parametrize(
    ("began", "ended"),
    [
        (GroupWatch.broker_lost, GroupWatch.records_arrived),  # records after the loss
        (GroupWatch.rebalance_began, GroupWatch.rebalance_ended),  # a rebalance that ends
    ],
)
def test_what_ends_the_watch_in_time_leaves_the_member_alone(
    clock: Clock, began: Callable[[GroupWatch], None], ended: Callable[[GroupWatch], None]
) -> None:
    watch = GroupWatch(stuck_after_s=30, max_rejoins=5)
    began(watch)
    clock.now += 20
    ended(watch)
    clock.now += 100
    assert not watch.stuck()


def test_a_member_with_nothing_to_read_is_left_alone_after_a_few_joins(clock: Clock) -> None:
    watch = GroupWatch(stuck_after_s=30, max_rejoins=2)
    watch.broker_lost()
    stuck = 0
    for _ in range(20):
        clock.now += 31
        stuck += watch.stuck()
    assert stuck == 2


def test_a_rebalance_that_does_not_end_is_stuck_whatever_was_lost(clock: Clock) -> None:
    watch = GroupWatch(stuck_after_s=30, max_rejoins=5)
    watch.rebalance_began()
    clock.now += 20
    watch.rebalance_began()  # a join failed and is tried again: the same rebalance
    clock.now += 9
    assert not watch.stuck()
    clock.now += 2
    assert watch.stuck()
    assert not watch.stuck()  # the new member is watched from its own first revoke
    watch.rebalance_began()
    clock.now += 31
    assert watch.stuck()
