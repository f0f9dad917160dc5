"""The relay hands its reads of the log to the sealer, which digests whole blocks from
them instead of reading and decrypting them again: the seals must be exactly those a
read of the store gives (`verify` recomputes them from the store)."""

from __future__ import annotations

from typing import Any

import pytest

from registry import anchors
from registry.anchors import Sealer, leaf, plain_state, verify
from registry.store import EventStore
from tests.unit.handler_world import World

BLOCK = 7


def _reads(store: EventStore, start: int, page: int) -> list[tuple[int, list[Any]]]:
    """The log read page by page from `start`, as the relay reads it: (start, page)."""
    reads = []
    while notifications := store.process_recorder.select_notifications(start=start, limit=page):
        reads.append((start, notifications))
        start = notifications[-1].id + 1
    return reads


def _feed(sealer: Sealer, store: EventStore, reads: list[tuple[int, list[Any]]]) -> None:
    for start, notifications in reads:
        leaves = [(n.id, leaf(n, plain_state(store, n))) for n in notifications]
        sealer.feed(start, notifications[-1].id, leaves)


def _count_store_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    blocks_read: list[int] = []
    read = anchors._block_notifications

    def counting(store: EventStore, block: int, size: int) -> list[Any]:
        blocks_read.append(block)
        return read(store, block, size)

    monkeypatch.setattr(anchors, "_block_notifications", counting)
    return blocks_read


def test_blocks_fed_whole_are_sealed_without_reading_them_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = world.store
    reads = _reads(store, 1, page=5)  # pages across block boundaries
    last = reads[-1][1][-1].id
    assert last >= 4 * BLOCK
    blocks_read = _count_store_reads(monkeypatch)
    sealer = Sealer(store, BLOCK)
    _feed(sealer, store, reads)
    sealed = sealer.seal_up_to(last)

    assert sealed == last // BLOCK
    assert blocks_read == []
    checked, findings = verify(store)
    assert (checked, findings) == (sealed, [])


def test_a_read_out_of_step_leaves_its_block_to_a_read_of_the_store(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a restart from a checkpoint in the middle of block 1, that block was not
    fed whole: it is read from the store; blocks 0 and 2 on are digested as fed."""
    store = world.store
    blocks_read = _count_store_reads(monkeypatch)
    sealer = Sealer(store, BLOCK)
    _feed(sealer, store, _reads(store, 1, page=3)[:1])  # positions 1-3
    _feed(sealer, store, _reads(store, 1, page=BLOCK)[:1])  # block 0 again, whole
    restart = BLOCK + 3
    reads = _reads(store, restart, page=4)
    _feed(sealer, store, reads)
    last = reads[-1][1][-1].id
    sealed = sealer.seal_up_to(last)

    assert sealed == last // BLOCK
    assert blocks_read == [1]
    checked, findings = verify(store)
    assert (checked, findings) == (sealed, [])


def test_a_block_is_sealed_once_and_what_was_fed_for_it_is_dropped(world: World) -> None:
    store = world.store
    sealer = Sealer(store, BLOCK)
    reads = _reads(store, 1, page=BLOCK * 2)
    _feed(sealer, store, reads[:1])
    assert sealer.seal_up_to(2 * BLOCK) == 2
    _feed(sealer, store, _reads(store, 1, page=BLOCK * 2)[:1])  # an epoch starts over
    assert sealer.seal_up_to(2 * BLOCK) == 0
    assert not sealer._digested
