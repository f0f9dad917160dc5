"""CPU time the backbone's processes spend, by role, over a stretch of a run.

Latency on a shared virtual machine swings with what the host takes (bench/stolen.py);
the CPU seconds each process is given for the same work swing much less. Divided by the
requests handled meanwhile, they tell what each part of the backbone costs, and whether
a change made it cheaper, when the latency alone cannot."""

from __future__ import annotations

import os
from collections.abc import Mapping

_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid → (parent pid, command name, CPU seconds used) of every process readable."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                text = stat.read()
        except OSError:
            continue  # gone meanwhile
        name_end = text.rfind(")")
        name = text[text.find("(") + 1:name_end]
        fields = text[name_end + 2:].split()
        # after the name: state ppid … utime (12th) stime (13th)
        used_s = (int(fields[11]) + int(fields[12])) / _TICKS_PER_S
        found[int(entry)] = (int(fields[1]), name, used_s)
    return found


def cpu_seconds(roots: Mapping[str, int], *, postgres: bool = True) -> dict[str, float]:
    """CPU seconds used so far by each role's process and its descendants (a relay's
    reader process is the relay's), but for those another role names; with `postgres`,
    every PostgreSQL server process as one role (here the database serves the benchmark
    alone)."""
    processes = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    named = set(roots.values())
    used = {}
    for role, root in roots.items():
        total, stack = 0.0, [root]
        while stack:
            pid = stack.pop()
            if pid in processes:
                total += processes[pid][2]
                stack.extend(c for c in children.get(pid, ()) if c not in named)
        used[role] = total
    if postgres:
        used["postgres"] = sum(s for _, name, s in processes.values() if name == "postgres")
    return used


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by one process and its descendants (a broker, say)."""
    return cpu_seconds({"tree": pid}, postgres=False)["tree"]


def per_request_ms(before: Mapping[str, float], after: Mapping[str, float], requests: int
                   ) -> dict[str, float]:
    """Each role's CPU milliseconds per request between two readings."""
    if requests <= 0:
        return {}
    return {role: 1000 * (after[role] - before.get(role, 0.0)) / requests for role in after}
