"""How fast the machine runs plain Python at a moment, to read a stage's figures by.

The same code's CPU per request moved by a fifth between runs minutes apart on one
machine (BENCHMARKS.md, session 21), and the host reported no `steal` (bench/stolen.py)
while it did: an idle machine took 0.67 to 0.97 CPU s for the same loop within a minute.
So each part of each run is bracketed by this probe: the CPU seconds the loop that
BENCHMARKS.md quotes for every machine (`sum(i*i for i in range(10**7))`) takes, timed
on a tenth of it so that the probe costs the run little (~0.1 s)."""

from __future__ import annotations

import time

REFERENCE_COUNT = 10**7
_PROBE_COUNT = REFERENCE_COUNT // 10


def python_loop_seconds() -> float:
    """CPU seconds the reference loop takes now (measured on a tenth, scaled)."""
    started = time.process_time()
    sum(i * i for i in range(_PROBE_COUNT))
    return round((time.process_time() - started) * REFERENCE_COUNT / _PROBE_COUNT, 3)
