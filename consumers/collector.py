"""The cycle collector paused around bursts of acyclic allocations, from any thread; and
what a loop keeps between its batches moved out of its sight.

Unpickling a page of records, or handing it to kafka-python, allocates a dozen
containers per record, none in reference cycles: reference counting frees them all, but
the allocations set the cycle collector off dozens of times a page, and every so often
it walks every live object (the pages queued, the records in flight).

Pauses may overlap (the relay's page receiver and its sender are two threads): the
collector is back on when the last one ends, whatever state another loop of the same
interpreter left it in, so a pause here never leaves it off.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["SurvivorFreezer", "collector_paused"]

# How long objects stay frozen at most (SurvivorFreezer): garbage in reference cycles
# among them waits this long to be collected. Each thaw's full pass stops the loop for
# as long as it walks everything (0.18-0.22 s with the ingest's cache full), and a busy
# ingest makes almost no cyclic garbage (21 objects every 15 s, measured), so seldom;
# the garbage a group join leaves (thousands of kafka-python timeouts with their
# frames) has a thaw of its own (`thaw_soon`).
THAW_EVERY_S = 600.0

_lock = threading.Lock()
_pauses = 0


@contextmanager
def collector_paused() -> Iterator[None]:
    global _pauses
    with _lock:
        _pauses += 1
        gc.disable()
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0:
                gc.enable()


class SurvivorFreezer:
    """Moves what survives a batch out of the cycle collector's sight.

    What a batch leaves behind is what the loop keeps (the ingest's cached aggregates:
    tens of thousands, a dozen objects each). Left to the collector, the pass after each
    batch walked all that the batch cached, and every few seconds a full pass walked the
    whole cache: measured at 2,000 requests/s, 0.45 s of the ingest's 40 s went to them,
    in pauses of up to 131 ms that held every request in flight (BENCHMARKS.md, session
    13). Frozen objects (`gc.freeze`) are still freed by reference counting the moment
    nothing refers to them (an aggregate the cache drops); only garbage in reference
    cycles would stay, so once every `thaw_every_s` everything frozen is given back to
    the collector (`gc.unfreeze`) and walked by a full pass, which frees that garbage."""

    def __init__(self, thaw_every_s: float = THAW_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.thaw_every_s = thaw_every_s
        self._clock = clock
        self._thawed_at = clock()

    def thaw_soon(self) -> None:
        """The next `batch_done` thaws: call when garbage was made in bulk (a group join:
        each of its polls leaves a timeout in a reference cycle, ~12,000 objects in all,
        which survive long enough to be frozen with the first batch's survivors)."""
        self._thawed_at = float("-inf")

    def batch_done(self) -> None:
        """Call at the end of a batch, before the collector is back on (inside
        `collector_paused`), so that no pass walks the batch's survivors first."""
        now = self._clock()
        if now - self._thawed_at >= self.thaw_every_s:
            self._thawed_at = now
            gc.unfreeze()
            # A full pass now, not whenever the collector's own thresholds would call
            # one: they do not count what a thaw gives back, and in a 12-minute run the
            # ingest's memory grew from 196 to 416 MiB (cyclic garbage, among it
            # kafka-python's timeouts with their tracebacks and frames, uncollected).
            gc.collect()
        else:
            gc.freeze()
