"""Resident memory of this process."""

from __future__ import annotations

import ctypes
import gc
import resource
import sys


def rss_mb() -> float:
    """Current resident set size (VmRSS) in MiB; the peak where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _MallInfo2(ctypes.Structure):
    # glibc's struct mallinfo2 (2.33+): every field a size_t.
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def _mallinfo2() -> _MallInfo2 | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        return None  # not glibc, or older than 2.33
    mallinfo2.restype = _MallInfo2
    info: _MallInfo2 = mallinfo2()
    return info


def heap_detail() -> dict[str, float]:
    """Where this process's memory is, in MiB (and Python's object counts): to tell
    objects that stay from space malloc holds free, when resident memory grows.

    `malloc_in_use` / `malloc_free`: what malloc's heaps hold allocated / free (the free
    part is fragmentation unless trimmed); `malloc_mapped`: blocks malloc mapped on their
    own (large buffers, given back when freed); `python_blocks`: Python's allocated
    memory blocks (`sys.getallocatedblocks`), `gc_objects`: objects the collector tracks.
    """
    mib = 1024 * 1024
    detail: dict[str, float] = {
        "python_blocks": float(sys.getallocatedblocks()),
        "gc_objects": float(len(gc.get_objects())),
    }
    info = _mallinfo2()
    if info is not None:
        detail |= {
            "malloc_in_use": round(info.uordblks / mib, 1),
            "malloc_free": round(info.fordblks / mib, 1),
            "malloc_mapped": round(info.hblkhd / mib, 1),
        }
    return detail
