"""The broker's fetch-cost probe runs at a tiny size: both lingers, every window printed,
every record seen by the consumer (its figures are the benchmark's business)."""

from __future__ import annotations

import re

import pytest

from bench import broker_fetch_cost

pytestmark = pytest.mark.integration


def test_both_lingers_are_measured_window_by_window(capsys: pytest.CaptureFixture[str]) -> None:
    assert broker_fetch_cost.main(["--seconds", "6", "--rate", "300"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("linger")]
    assert [line.split(":")[0] for line in lines] == ["linger  5 ms", "linger 50 ms"]
    for line in lines:
        windows = re.findall(r"\d+", line.split("window:")[1].split("(")[0])
        assert len(windows) >= 1
