"""Stage 3b, rebuild: projections/rebuild.py building every read model again, from the
beginning of the event topics the projections stage read, into a fresh generation
(the same code `registry rebuild` runs). The 1,000,000-member city (~5,000,000 events)
must rebuild in under 5 minutes, so the figure is also given as the time 5,000,000
events would take.

Timed: the load, from the first record a loading process applies to the last; the
finish (the secondary indexes built, the rollup counters counted from the rows); any
catch-up after it; and the planner statistics taken of the new tables. Left out, as the
projections stage leaves out its group join: the loading processes starting and
stopping, and the wait for quiet before the switch (the end of a topic is not asked of
the broker).

Extrapolated to the city: the load, the finish and the catch-up in proportion to the
events (an index build sorts its rows, a little worse than linear, so the finish's share
is reported as well); the statistics as measured, not scaled: ANALYZE samples a fixed
30,000 rows per table, which these tables reach already. The figure in events/s is the
city's events over that extrapolated time.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from bench.env import Env
from bench.timing import Progress
from projections.rebuild import Timings, rebuild

CITY_EVENTS = 5_000_000


@dataclass
class Rebuilt(Progress):
    load_s: float = 0.0
    finish_s: float = 0.0
    analyze_s: float = 0.0
    catch_up_s: float = 0.0

    @property
    def scaled_s(self) -> float:
        """The part that grows with the events (all but the statistics)."""
        return self.load_s + self.finish_s + self.catch_up_s

    @property
    def finish_share(self) -> float:
        return self.finish_s / self.scaled_s if self.scaled_s else float("nan")

    def city_seconds(self, events: int = CITY_EVENTS) -> float:
        return self.scaled_s * events / self.total + self.analyze_s


def measure_rebuild(env: Env, records: int, timeout_s: float,
                    workers: int | None = None) -> Rebuilt:
    """Rebuilds once; `records`: how many records the topics hold. The rate is that of
    the rebuild extrapolated to the city (see above)."""
    t = Timings()
    rebuild(env.settings, progress=None, idle_s=1.0, timeout_s=timeout_s, drop_after_s=0,
            workers=workers, timings=t)
    applied = t.loaded_records + t.caught_up_records
    if (applied < records or t.first_record is None or t.last_loaded is None
            or t.finish_started is None or t.finished is None or t.analyzed is None):
        raise RuntimeError(f"the rebuild applied {applied} of {records} records")
    result = Rebuilt(total=records, memory_marks=())
    result.handled = applied
    result.load_s = t.last_loaded - t.first_record
    result.finish_s = t.finished - t.finish_started
    result.analyze_s = t.analyzed - t.finished
    result.catch_up_s = t.last_caught_up - t.analyzed if t.last_caught_up is not None else 0.0
    # Progress.rate is total / (last - first): the city's rate, at this run's size.
    result.first, result.last = 0.0, result.city_seconds() * records / CITY_EVENTS
    result.done.set()
    # The steps apart, on stderr beside the table (not a figure of their own).
    print(f"rebuild of {records:,} records: load {result.load_s:.2f} s, finish"
          f" {result.finish_s:.2f} s ({result.finish_share:.0%} of the scaled part), analyze"
          f" {result.analyze_s:.2f} s, catch-up {result.catch_up_s:.2f} s ->"
          f" {result.city_seconds():.0f} s for {CITY_EVENTS:,} events", file=sys.stderr)
    return result


def seconds_for_city(rate: float) -> float:
    return CITY_EVENTS / rate if rate else float("nan")
