"""Resident memory that stays flat in a loop that runs for days: glibc's malloc told to
keep its threshold for mapping large blocks where it starts.

glibc maps a block of 128 KiB or more on its own and gives it back when freed, but each
time such a block is freed it raises that threshold to the block's size (up to 32 MiB),
so from then on blocks of that size come from its heaps. The loops allocate buffers of
megabytes now and then (a fetch of a backlog, a batch's rows): once the threshold had
risen, they were carved out of the heaps and left them in pieces that could not be
given back. Measured (`python -m bench.memory_growth`, 1M members): the ingest's heaps
held 29.9 MiB free at 100k members and 44.7 MiB at 1M, with nothing mapped on its own,
while its resident memory rose 17 %. A fixed threshold keeps every large buffer mapped
on its own, given back as soon as it is freed.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

# mallopt's parameter numbers (glibc's malloc.h).
_M_MMAP_THRESHOLD = -3
# glibc's own starting value: blocks from 128 KiB are mapped on their own.
MMAP_THRESHOLD_BYTES = 128 * 1024


class MallInfo(ctypes.Structure):
    """glibc's struct mallinfo2 (2.33+): every field a size_t, in bytes or counts."""

    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]  # fmt: skip


def malloc_info() -> MallInfo | None:
    """What malloc holds now (`uordblks` in use and `fordblks` free in its heaps,
    `hblkhd` mapped on their own); None where the C library has no mallinfo2."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = MallInfo
    info: MallInfo = mallinfo2()
    return info


def keep_heap_flat() -> bool:
    """Fixes malloc's mapping threshold for this process (glibc only; elsewhere nothing
    is done). Returns whether it was set."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False  # no C library to ask, or one without mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) != 1:
        log.warning("malloc refused a mapping threshold of %d bytes", MMAP_THRESHOLD_BYTES)
        return False
    return True
