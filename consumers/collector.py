"""The cycle collector paused around bursts of acyclic allocations, from any thread.

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
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]

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
