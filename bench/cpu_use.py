"""CPU time the backbone's processes spend, by role, over a stretch of a run.

Latency on a shared virtual machine swings with what the host takes (bench/stolen.py);
the CPU seconds each process is given for the same work swing much less. Divided by the
requests handled meanwhile, they tell what each part of the backbone costs, and whether
a change made it cheaper, when the latency alone cannot."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

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
    return _per_role(roots, postgres, lambda pid, used_s: used_s)


def core_wait_seconds(roots: Mapping[str, int], *, postgres: bool = True) -> dict[str, float]:
    """The same roles' seconds spent runnable but not running, waiting for a core (each
    live thread's schedstat; threads that ended are not counted, and a kernel that keeps
    no schedstat gives 0). With every core busy, a request's latency is made more of
    these waits than of any part's own work (BENCHMARKS.md, session 25)."""
    return _per_role(roots, postgres, lambda pid, _: _core_wait_s(pid))


def _per_role(roots: Mapping[str, int], postgres: bool,
              value: Callable[[int, float], float]) -> dict[str, float]:  # fmt: skip
    """`value(pid, CPU seconds used)` summed over each role's process tree."""
    processes = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    named = set(roots.values())
    totals = {}
    for role, root in roots.items():
        total, stack = 0.0, [root]
        while stack:
            pid = stack.pop()
            if pid in processes:
                total += value(pid, processes[pid][2])
                stack.extend(c for c in children.get(pid, ()) if c not in named)
        totals[role] = total
    if postgres:
        totals["postgres"] = sum(
            value(pid, used_s) for pid, (_, name, used_s) in processes.items()
            if name == "postgres"
        )
    return totals


def _core_wait_s(pid: int) -> float:
    total = 0
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0  # gone meanwhile
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/schedstat", encoding="ascii") as stat:
                total += int(stat.read().split()[1])  # ns running, ns waiting, slices
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by one process and its descendants (a broker, say)."""
    return cpu_seconds({"tree": pid}, postgres=False)["tree"]


def per_request_ms(before: Mapping[str, float], after: Mapping[str, float], requests: int
                   ) -> dict[str, float]:
    """Each role's CPU milliseconds per request between two readings."""
    if requests <= 0:
        return {}
    return {role: 1000 * (after[role] - before.get(role, 0.0)) / requests for role in after}
