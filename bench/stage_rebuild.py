"""Stage 3b, rebuild: projections/rebuild.py building every read model again, from the
beginning of the event topics the projections stage read, into a fresh generation
(the same code `registry rebuild` runs). Timed from the first record the rebuild
applies to the last; the 1,000,000-member city (~5,000,000 events) must rebuild in under
5 minutes, so the figure is also given as the time 5,000,000 events would take."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.env import Env
from bench.timing import Progress
from consumers.projector import Projector
from projections.rebuild import rebuild

CITY_EVENTS = 5_000_000


@contextmanager
def _timed(progress: Progress) -> Iterator[None]:
    """The rebuild makes its projector itself: its batches are timed at the class."""
    original = Projector.process_polled

    def timed(self: Projector, polled: dict[Any, list[Any]]) -> None:
        progress.wrap_polled(lambda p: original(self, p))(polled)

    Projector.process_polled = timed  # type: ignore[method-assign]
    try:
        yield
    finally:
        Projector.process_polled = original  # type: ignore[method-assign]


def measure_rebuild(env: Env, records: int, timeout_s: float) -> Progress:
    """Rebuilds once; `records`: how many records the topics hold."""
    progress = Progress(total=records, memory_marks=())
    with _timed(progress):
        rebuild(env.settings, progress=None, idle_s=1.0, timeout_s=timeout_s, drop_after_s=0)
    return progress


def seconds_for_city(rate: float) -> float:
    return CITY_EVENTS / rate if rate else float("nan")
