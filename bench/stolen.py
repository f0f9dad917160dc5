"""How much of the machine's CPU time the host took for others while a stage ran.

A virtual machine's cores are shared with its host's other guests: `steal` in
/proc/stat counts the time a core was ready to run here and was not given the CPU. It
swings from run to run (seen here: 0–26 % in 2 s intervals of one run), and a stage's
figure measured while a quarter of the machine was taken is not the same figure; so
each stage's share is printed beside its figures."""

from __future__ import annotations

from types import TracebackType


def _cpu_times() -> tuple[int, int] | None:
    """(steal, total) jiffies over all cores since boot; None where /proc is missing."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal (guest time is within user)
    times = [int(f) for f in fields[1:9]]
    return times[7], sum(times)


class StolenTime:
    """`with StolenTime() as stolen: …`, then `stolen.percent`: the share of CPU time
    taken by the host over the block (NaN where it cannot be read)."""

    def __init__(self) -> None:
        self._start: tuple[int, int] | None = None
        self.percent = float("nan")

    def __enter__(self) -> StolenTime:
        self._start = _cpu_times()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        end = _cpu_times()
        if self._start is None or end is None or end[1] <= self._start[1]:
            return
        self.percent = 100 * (end[0] - self._start[0]) / (end[1] - self._start[1])
