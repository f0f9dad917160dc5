"""Running a consumer loop in a thread and timing it from the first record it handles
(so consumer-group join time is left out) until it has handled all it was given."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.rss import rss_mb


@dataclass
class Progress:
    """Filled in by a wrapped `process(tp, records)`; read by the benchmark."""

    total: int
    memory_marks: tuple[float, ...] = (0.1, 1.0)
    handled: int = 0
    first: float | None = None
    last: float | None = None
    rss: dict[float, float] = field(default_factory=dict)
    measure_rss: Callable[[], float] = rss_mb
    # Beside each memory sample, where the memory is (bench/rss.py heap_detail), if set.
    measure_detail: Callable[[], dict[str, float]] | None = None
    details: dict[float, dict[str, float]] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)

    def wrap_polled(self, process: Callable[..., None],
                    settle: Callable[[], None] | None = None) -> Callable[..., None]:
        """A loop's `process_polled({partition: records}, **options)`, counted; the
        clock starts at the first call given records. `settle`: what makes the last
        records' work complete (the ingest's batch saved behind), inside the clock."""

        def timed(polled: dict[Any, list[Any]], **options: Any) -> None:
            count = sum(len(records) for records in polled.values())
            if self.first is None and count:
                self.first = time.perf_counter()
            process(polled, **options)
            if settle is not None and self.handled + count >= self.total:
                settle()
            self._handled(count)

        return timed

    def _handled(self, count: int) -> None:
        self.handled += count
        for mark in self.memory_marks:
            if mark not in self.rss and self.handled >= mark * self.total:
                self.rss[mark] = self.measure_rss()
                if self.measure_detail is not None:
                    self.details[mark] = self.measure_detail()
        if self.handled >= self.total:
            self.last = time.perf_counter()
            self.done.set()

    @property
    def seconds(self) -> float:
        if self.first is None or self.last is None:
            raise RuntimeError(f"the loop handled {self.handled} of {self.total} records")
        return self.last - self.first

    @property
    def rate(self) -> float:
        return self.total / self.seconds


def run_until_done(run: Callable[[threading.Event], None], progress: Progress,
                   timeout_s: float) -> None:
    """Runs `run(stop)` in a thread until `progress` is done; stops it either way."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            run(stop)
        except BaseException as error:
            errors.append(error)
            progress.done.set()

    thread = threading.Thread(target=guarded, name="bench-loop", daemon=True)
    thread.start()
    finished = progress.done.wait(timeout_s)
    stop.set()
    thread.join(timeout=30)
    if errors:
        raise RuntimeError("the loop under test failed") from errors[0]
    if not finished:
        raise TimeoutError(f"handled {progress.handled} of {progress.total} in {timeout_s} s")
