"""The city-sized rebuild benchmark runs end to end at a tiny size: the generated city
published as the relay publishes it, in either order, rebuilt twice over the same
topics, every member and event in the new generation (its times are the benchmark's
business)."""

from __future__ import annotations

import pytest

from bench import city_rebuild

pytestmark = pytest.mark.integration


def test_a_tiny_city_is_published_and_rebuilt_twice(capsys: pytest.CaptureFixture[str]) -> None:
    assert city_rebuild.main(["--members", "1500", "--rebuilds", "2", "--baseline"]) == 0
    printed = capsys.readouterr().out
    assert "(recorded order)" in printed
    assert printed.count("rebuild of the 1,500-member city") == 2
    assert "baseline: consume + decode" in printed
    assert "MISMATCH" not in printed
    assert "median of 2:" in printed
    # Each loading process says whether it reached its targets or left the rest to the
    # catch-up; on a quiet machine and a small city, every one reaches them.
    assert "stopped at its targets" in printed
    assert "stopped short of its targets" not in printed


def test_member_order_rebuilds_the_same_city(capsys: pytest.CaptureFixture[str]) -> None:
    assert city_rebuild.main(["--members", "1500", "--order", "member"]) == 0
    printed = capsys.readouterr().out
    assert "(member order)" in printed and "MISMATCH" not in printed
