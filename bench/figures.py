"""A figure beside its baseline, their ratio, and the goal.

Each run measures its figure and the baseline within minutes (the ingest's, seconds) of
each other, and the machine's speed moves between runs by up to a third (BENCHMARKS.md,
session 21): the ratio is the median of the runs' own ratios, which compares like with
like, rather than the ratio of the two medians, which may come from different runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.stats import median, ratio


@dataclass(frozen=True)
class Figure:
    stage: str
    name: str
    unit: str
    value: float
    baseline_name: str
    baseline: float
    ratio: float
    goal: str
    runs: list[float]
    baseline_runs: list[float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def figure(stage: str, name: str, unit: str, values: Sequence[float], baseline_name: str,
           baselines: Sequence[float], goal: str = "") -> Figure:
    value, base = median(values), median(baselines)
    if values and len(values) == len(baselines):
        of_runs = median([ratio(v, b) for v, b in zip(values, baselines, strict=True)])
    else:  # not paired run by run
        of_runs = ratio(value, base)
    return Figure(stage, name, unit, value, baseline_name, base, of_runs, goal,
                  [float(v) for v in values], [float(b) for b in baselines])
