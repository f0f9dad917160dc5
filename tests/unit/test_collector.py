"""Pauses of the cycle collector from several threads: off while any lasts, on after
the last, never left off."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from consumers.collector import SurvivorFreezer, collector_paused


def test_overlapping_pauses_end_with_the_last() -> None:
    assert gc.isenabled()
    first_in, first_may_end = threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with collector_paused():
            first_in.set()
            first_may_end.wait(5)
        seen.append(gc.isenabled())  # the second still pauses it

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(5)
    with collector_paused():
        first_may_end.set()
        thread.join(5)
        assert not gc.isenabled()
    assert seen == [False]
    assert gc.isenabled()


def test_a_pause_never_leaves_the_collector_off() -> None:
    gc.disable()  # another loop of the interpreter paused it and has not ended yet
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_is_back_on_after_a_pause_that_failed() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("the batch failed")
    assert gc.isenabled()


def test_what_survives_a_batch_is_frozen_until_the_thaw() -> None:
    now = [0.0]
    freezer = SurvivorFreezer(thaw_every_s=60, clock=lambda: now[0])
    try:
        kept = [{"survivor": i} for i in range(100)]  # tracked by the collector
        now[0] = 1.0
        freezer.batch_done()
        assert gc.get_freeze_count() >= len(kept)
        now[0] = 61.0
        freezer.batch_done()  # a minute on: everything goes back to the collector
        assert gc.get_freeze_count() == 0
        now[0] = 62.0
        freezer.batch_done()
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()


class _Node:
    pass


def _cyclic_garbage() -> weakref.ref[_Node]:
    """An object in a reference cycle, unreachable: only a pass of the collector frees
    it (call with the collector off, or the next automatic pass may)."""
    node = _Node()
    node.self = node  # type: ignore[attr-defined]
    return weakref.ref(node)


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The collector off for the test, so only the freezer's own passes collect; and
    nothing left frozen after it."""
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


@pytest.mark.usefixtures("collector_off")
def test_garbage_in_cycles_is_collected_at_the_thaw() -> None:
    """The thaw's own full pass frees it: the collector's thresholds would not ask for
    one (they do not count what a thaw gives back), and the garbage grew for minutes."""
    now = [0.0]
    freezer = SurvivorFreezer(thaw_every_s=60, clock=lambda: now[0])
    garbage = _cyclic_garbage()
    now[0] = 1.0
    freezer.batch_done()  # frozen with the rest of the batch
    assert garbage() is not None
    now[0] = 61.0
    freezer.batch_done()
    assert garbage() is None


@pytest.mark.usefixtures("collector_off")
def test_a_thaw_asked_for_comes_at_the_next_batch() -> None:
    """After a group join, whose polls left garbage in cycles, the next batch thaws and
    collects it rather than freezing it with its survivors for the full interval."""
    now = [0.0]
    freezer = SurvivorFreezer(thaw_every_s=600, clock=lambda: now[0])
    garbage = _cyclic_garbage()
    now[0] = 1.0
    freezer.batch_done()
    assert garbage() is not None  # frozen with the batch
    freezer.thaw_soon()
    now[0] = 2.0
    freezer.batch_done()
    assert garbage() is None
    now[0] = 3.0
    freezer.batch_done()  # and then the interval again: frozen
    assert gc.get_freeze_count() > 0


def test_frozen_objects_are_still_freed_when_dropped() -> None:
    freezer = SurvivorFreezer(thaw_every_s=60, clock=lambda: 1.0)
    try:
        class Aggregate:
            pass

        cache = {"a": Aggregate()}
        dropped = weakref.ref(cache["a"])
        freezer.batch_done()
        del cache["a"]  # as the cache evicts it: reference counting frees it at once
        assert dropped() is None
    finally:
        gc.unfreeze()
