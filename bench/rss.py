"""Resident memory of this process."""

from __future__ import annotations

import resource


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
