"""Noticing a consumer-group member that gets nothing after the broker lost its logs, so
that its loop can join the group again with a new consumer.

Seen on Tansu under load, after a restart (which loses every topic and the groups with
them, and makes the topics again with another partition count): kafka-python's member
rejoined, was elected leader, and its assignment never came. Its `assignment()` still
named the old partitions, but no record came any more: no requests answered, no read
models updated, for good. A new consumer joins afresh.

Only after a loss the loop noticed itself (a log replaced under it): on Apache Kafka, a
member that gets no records is one with nothing to read, which is no reason to rejoin.

And a rebalance that never ends: the same stuck join, seen when the member's partitions
were revoked before its loop read anything from the new logs (then it holds no partition
whose loss it could notice, and waited for good: a broker-restart test failed 2 in 12
runs so). The rebalance listener says when one begins (partitions revoked) and ends
(partitions assigned, an empty list included). On Apache Kafka a rebalance can last up
to the rebalance timeout (max.poll.interval.ms) while another member finishes a long
batch; a rejoin then costs that rebalance a member leaving and joining, not correctness.
"""

from __future__ import annotations

import time

# Nothing polled this long after a loss: join again.
STUCK_AFTER_S = 30.0
# Joins after one loss before the watch gives up (a loop with nothing to read).
MAX_REJOINS = 5


class GroupWatch:
    def __init__(self, stuck_after_s: float = STUCK_AFTER_S, max_rejoins: int = MAX_REJOINS
                 ) -> None:  # fmt: skip
        self.stuck_after_s = stuck_after_s
        self.max_rejoins = max_rejoins
        self._since: float | None = None  # the loss, or the last rejoin after it
        self._rejoins = 0
        # The first revoke of a rebalance not yet ended. Written by the listener, on
        # kafka-python's IO thread; one attribute, read once by the loop.
        self._rebalance_since: float | None = None

    def rebalance_began(self) -> None:
        """Partitions revoked: a rebalance is under way (only its first revoke counts,
        so a join failing again and again stays one long rebalance)."""
        if self._rebalance_since is None:
            self._rebalance_since = time.monotonic()

    def rebalance_ended(self) -> None:
        """Partitions assigned: the member is in the group again."""
        self._rebalance_since = None

    def broker_lost(self) -> None:
        """The loop found a log it had read replaced (the broker forgot it). Found again
        while the watch is on, it changes nothing: a stuck member's checks keep finding
        its old logs gone."""
        if self._since is None:
            self._since, self._rejoins = time.monotonic(), 0

    def records_arrived(self) -> None:
        """A poll brought records: the member works."""
        self._since = None

    def stuck(self) -> bool:
        """True when a rebalance has gone on for `stuck_after_s`; or when nothing has
        come for `stuck_after_s` since the loss (or since the last rejoin after it), at
        most `max_rejoins` times per loss."""
        began = self._rebalance_since
        if began is not None and time.monotonic() - began >= self.stuck_after_s:
            # The new member's own rebalance is watched from its first revoke.
            self._rebalance_since = None
            return True
        if self._since is None or time.monotonic() - self._since < self.stuck_after_s:
            return False
        self._rejoins += 1
        if self._rejoins > self.max_rejoins:
            self._since = None
            return False
        self._since = time.monotonic()
        return True
