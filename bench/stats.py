"""Medians, percentiles and ratios of repeated measurements."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


def quarters(values: Sequence[float]) -> list[Sequence[float]]:
    """The values in four consecutive parts of (nearly) equal length, in order."""
    bounds = [len(values) * q // 4 for q in range(5)]
    return [values[a:b] for a, b in itertools.pairwise(bounds)]


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else float("nan")
