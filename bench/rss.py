"""Resident memory of this process."""

from __future__ import annotations

import gc
import os
import resource
import sys
import tempfile

from registry.heap import malloc_info


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


def heap_detail() -> dict[str, float]:
    """Where this process's memory is, in MiB (and Python's object counts): to tell
    objects that stay from space malloc holds free, when resident memory grows.

    `malloc_in_use` / `malloc_free`: what malloc's heaps hold allocated / free (the free
    part is fragmentation unless trimmed); `malloc_mapped`: blocks malloc mapped on their
    own (large buffers, given back when freed); `python_blocks`: Python's allocated
    memory blocks (`sys.getallocatedblocks`), `gc_objects`: objects the collector tracks
    (frozen ones included); `pymalloc_arenas`: what Python's small-object allocator holds
    (its 1 MiB arenas) and `pymalloc_used`: the part of it in allocated blocks.
    """
    mib = 1024 * 1024
    detail: dict[str, float] = {
        "python_blocks": float(sys.getallocatedblocks()),
        # Frozen objects (consumers/collector.py) are out of the collector's generations.
        "gc_objects": float(len(gc.get_objects()) + gc.get_freeze_count()),
    }
    detail |= _pymalloc()
    info = malloc_info()
    if info is not None:
        detail |= {
            "malloc_in_use": round(info.uordblks / mib, 1),
            "malloc_free": round(info.fordblks / mib, 1),
            "malloc_mapped": round(info.hblkhd / mib, 1),
        }
    return detail


_PYMALLOC_LINES = {
    "# arenas allocated current": "pymalloc_arenas",
    "# bytes in allocated blocks": "pymalloc_used",
}


def _pymalloc() -> dict[str, float]:
    """Python's own allocator's figures, from `sys._debugmallocstats`, which writes them
    to the C-level stderr only: read back through a temporary file."""
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("ascii", "replace")
    figures: dict[str, float] = {}
    for line in text.splitlines():
        label, _, value = line.partition("=")
        name = _PYMALLOC_LINES.get(label.strip())
        if name is not None:
            number = float(value.strip().replace(",", ""))
            # Arenas are 1 MiB each in CPython 3.10+; the bytes figure to MiB.
            figures[name] = number if name == "pymalloc_arenas" else round(number / 2**20, 1)
    return figures
