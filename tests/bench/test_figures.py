"""A figure's ratio is the median of its runs' own ratios (pure; no services)."""

from __future__ import annotations

import math

from bench.figures import figure


def test_the_ratio_pairs_each_run_with_its_own_baseline() -> None:
    # Harness C of session 21: the runs' own ratios 0.626, 0.585 and 0.668, though the
    # median of the values over the median of the baselines (from different runs) is 0.58.
    f = figure("ingest", "events/s", "/s", [7209.4, 6510.7, 5746.8], "store",
               [11525.3, 11130.8, 8608.1], ">= 0.6x")
    assert math.isclose(f.value, 6510.7) and math.isclose(f.baseline, 11130.8)
    assert round(f.value / f.baseline, 2) == 0.58
    assert round(f.ratio, 3) == round(7209.4 / 11525.3, 3)  # 0.626


def test_unpaired_runs_fall_back_to_the_ratio_of_the_medians() -> None:
    f = figure("relay", "records/s", "/s", [10.0, 30.0, 20.0], "alone", [10.0, 20.0])
    assert f.ratio == 20.0 / 15.0


def test_a_baseline_of_zero_gives_no_ratio_for_that_run() -> None:
    f = figure("x", "y", "/s", [1.0], "z", [0.0])
    assert math.isnan(f.ratio)
