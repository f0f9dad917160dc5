"""A figure beside its baseline, the ratio of their medians, and the goal."""

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
    return Figure(stage, name, unit, value, baseline_name, base, ratio(value, base), goal,
                  [float(v) for v in values], [float(b) for b in baselines])
