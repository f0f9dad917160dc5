"""Tamper evidence: the store's history sealed in fixed blocks of positions, each seal
chained to the one before (ARCHITECTURE principle 9).

Block b holds store positions b·B+1 … (b+1)·B. Its digest is SHA-256 over, for each
stored event in the block in position order: the position (8 bytes, big-endian), the
aggregate id, the version, the event's topic and SHA-256 of its decrypted state. The seal
of block b records SHA-256(seal of b-1 ‖ block digest), so removing or altering any
stored event, or any seal, breaks every seal after it.

Seals are events of their own (`Anchor.Sealed`, saved by the relay once the block is on
Kafka), so they are published on `registry.anchors` like everything else: an auditor
compares the store with the seals (`registry audit`), and the seals with the copies
that left the registry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, Notification

from registry.store import EventStore

_ANCHOR_NAMESPACE = UUID("5a1c9e0b-3f7d-4d2a-8b6e-2c4f1a9d7e31")
GENESIS = "0" * 64


def anchor_id(block: int) -> UUID:
    return uuid5(_ANCHOR_NAMESPACE, f"block {block}")


class Anchor(Aggregate):
    @staticmethod
    def create_id(block: int, **_: Any) -> UUID:
        return anchor_id(block)

    @event("Sealed")
    def __init__(
        self,
        *,
        block: int,
        from_position: int,
        to_position: int,
        events: int,
        block_digest: str,
        previous_digest: str,
        digest: str,
    ) -> None:
        self.block = block
        self.from_position = from_position
        self.to_position = to_position
        self.block_digest = block_digest
        self.digest = digest


def block_digest(store: EventStore, notifications: list[Notification]) -> str:
    digest = hashlib.sha256()
    for n in notifications:
        digest.update(leaf(n, plain_state(store, n)))
    return digest.hexdigest()


def plain_state(store: EventStore, notification: Notification) -> bytes:
    """A stored event's state as the mapper decodes it: decrypted, decompressed."""
    state = notification.state
    cipher = store.mapper.cipher
    if cipher is not None:
        state = cipher.decrypt(state)
    compressor = store.mapper.compressor
    if compressor is not None:
        state = compressor.decompress(state)
    return state


def leaf(notification: Notification, plain: bytes) -> bytes:
    """What one stored event adds to its block's digest (given its plain state)."""
    return b"".join((
        notification.id.to_bytes(8, "big"),
        str(notification.originator_id).encode(),
        notification.originator_version.to_bytes(8, "big"),
        notification.topic.encode(),
        hashlib.sha256(plain).digest(),
    ))


def chained(previous: str, block: str) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + bytes.fromhex(block)).hexdigest()


def _block_notifications(store: EventStore, block: int, size: int) -> list[Notification]:
    first, last = block * size + 1, (block + 1) * size
    return list(store.process_recorder.select_notifications(start=first, stop=last, limit=size))


def _seal_of(store: EventStore, block: int) -> Anchor | None:
    try:
        anchor = store.repository.get(anchor_id(block))
    except AggregateNotFoundError:
        return None
    return anchor if isinstance(anchor, Anchor) else None


class Sealer:
    """Seals every complete block up to a position; used by the relay after a checkpoint.

    The block size is fixed for the life of a store: blocks are numbered by it.

    The relay reads every stored event anyway (and decrypts it to publish it), so it
    hands what it read to `feed`: a block read whole that way is digested from those
    reads instead of being read from the store and decrypted a second time when it is
    sealed. A block not fed whole (the relay restarted in the middle of it) is read from
    the store, as `verify` does."""

    def __init__(self, store: EventStore, block_size: int) -> None:
        self.store = store
        self.size = block_size
        self._next_block: int | None = None
        self._previous: str | None = None
        # Feeding: the block being digested, its digest so far and events, and the last
        # position the reads fed so far cover (None: nothing fed, or out of step).
        self._fed_to: int | None = None
        self._block = 0
        self._digest = hashlib.sha256()
        self._events = 0
        self._digested: dict[int, tuple[str, int]] = {}  # block → (digest, events)

    def feed(self, start: int, last: int, leaves: Sequence[tuple[int, bytes]]) -> None:
        """Takes one read of the notification log: every stored event from position
        `start` to `last`, as (position, `leaf`) in position order. Reads must follow each
        other without a gap to be digested; a read that does not continue the one before
        starts over at the next block boundary."""
        if last < start:
            return
        size = self.size
        if self._fed_to is None or start != self._fed_to + 1:
            self._block = -(-(start - 1) // size)  # the first block that starts at or after it
            self._digest, self._events = hashlib.sha256(), 0
        first = self._block * size + 1
        for position, part in leaves:
            if position < first:
                continue  # in a block whose beginning this read did not see
            while position > (self._block + 1) * size:
                self._digest_done()
            self._digest.update(part)
            self._events += 1
        self._fed_to = last
        while (self._block + 1) * size <= last:
            self._digest_done()

    def _digest_done(self) -> None:
        # Every position of the block was covered by the reads fed: the block is whole.
        if self._next_block is None or self._block >= self._next_block:
            self._digested[self._block] = (self._digest.hexdigest(), self._events)
        self._block += 1
        self._digest, self._events = hashlib.sha256(), 0

    def seal_up_to(self, position: int) -> int:
        """Seals the blocks that end at or before `position`; returns how many it sealed."""
        if self._next_block is None:
            self._next_block, self._previous = self._resume()
        sealed = 0
        while (self._next_block + 1) * self.size <= position:
            block = self._next_block
            fed = self._digested.pop(block, None)
            if fed is not None:
                body, events = fed
            else:
                notifications = _block_notifications(self.store, block, self.size)
                body, events = block_digest(self.store, notifications), len(notifications)
            assert self._previous is not None
            anchor = Anchor(
                block=block,
                from_position=block * self.size + 1,
                to_position=(block + 1) * self.size,
                events=events,
                block_digest=body,
                previous_digest=self._previous,
                digest=chained(self._previous, body),
            )
            try:
                self.store.save(anchor)
            except IntegrityError:
                anchor = _seal_of(self.store, block) or anchor  # sealed already: keep its chain
            self._previous = anchor.digest
            self._next_block = block + 1
            sealed += 1
        for stale in [b for b in self._digested if b < self._next_block]:
            del self._digested[stale]  # fed again after a restart of the reads: sealed already
        return sealed

    def _resume(self) -> tuple[int, str]:
        """The first unsealed block and the digest it chains to (seals are consecutive)."""
        low, high = 0, 1
        while _seal_of(self.store, high - 1) is not None:
            low, high = high, high * 2
        # Block high-1 is unsealed, every block before `low` is sealed: bisect between.
        while low < high:
            middle = (low + high) // 2
            if _seal_of(self.store, middle) is not None:
                low = middle + 1
            else:
                high = middle
        if low == 0:
            return 0, GENESIS
        previous = _seal_of(self.store, low - 1)
        assert previous is not None
        return low, previous.digest


@dataclass(frozen=True)
class Finding:
    block: int
    problem: str


def verify(store: EventStore) -> tuple[int, list[Finding]]:
    """Recomputes every sealed block from the store, over the positions its seal names;
    returns (blocks checked, findings)."""
    findings: list[Finding] = []
    previous = GENESIS
    checked = 0
    for block, anchor in _seals(store):
        checked += 1
        size = anchor.to_position - anchor.from_position + 1
        notifications = list(
            store.process_recorder.select_notifications(
                start=anchor.from_position, stop=anchor.to_position, limit=size
            )
        )
        if block_digest(store, notifications) != anchor.block_digest:
            findings.append(Finding(block, "stored events differ from what was sealed"))
        if chained(previous, anchor.block_digest) != anchor.digest:
            findings.append(Finding(block, "the seal does not chain to the one before"))
        previous = anchor.digest
    return checked, findings


def _seals(store: EventStore) -> Iterator[tuple[int, Anchor]]:
    block = 0
    while (anchor := _seal_of(store, block)) is not None:
        yield block, anchor
        block += 1
