"""The benchmark harness runs end to end at a tiny size and reports every stage's figures
(their values, and how long it takes, are the benchmark's business, not this test's: a
time limit here failed on a busy machine, as timed assertions do)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bench.harness import run_all
from bench.report import write
from bench.sizes import TINY

pytestmark = pytest.mark.integration

STAGES = {"ingest", "relay", "projections", "rebuild", "end to end", "memory", "queries"}


def test_quick_harness_reports_every_stage(tmp_path: Path) -> None:
    out = io.StringIO()
    figures, meta = run_all(TINY, out)
    path = write(figures, meta, out, tmp_path / "latest.json")

    assert {f.stage for f in figures} == STAGES
    names = {(f.stage, f.name.split(" (")[0]) for f in figures}
    for expected in [
        ("ingest", "requests/s"),
        ("ingest", "events written/s vs store"),
        ("relay", "records/s"),
        ("projections", "records/s"),
        ("rebuild", "events/s"),
        ("rebuild", "extrapolated to 5,000,000 events"),
        ("memory", "ingest RSS at 100% of run"),
        ("memory", "projections RSS at 100% of run"),
        ("queries", "roster page p50"),
        ("queries", "district rollup p99"),
        ("queries", "roster as of p50"),
    ]:
        assert expected in names, expected
    assert any(f.name.startswith("request→outcome p99") for f in figures)
    assert any(f.name.startswith("request→roster p50") for f in figures)
    for f in figures:  # each figure has a value and a baseline from the same run
        assert len(f.runs) == len(f.baseline_runs) >= 1
        assert f.baseline_name

    printed = out.getvalue()
    for f in figures:
        assert f.name in printed
    document = json.loads(path.read_text(encoding="utf-8"))
    assert len(document["figures"]) == len(figures)
    assert "city" in document
    stolen = document["cpu % taken by the host (steal), per run"]
    assert set(stolen) == {"pipeline", "baselines", "end to end"}
    assert all(0 <= p <= 100 for shares in stolen.values() for p in shares)
    speed = document["python loop s before / after each part, per run"]
    assert set(speed) == set(stolen)
    assert all(len(pairs) == TINY.runs for pairs in speed.values())
    assert all(0 < s < 60 for pairs in speed.values() for pair in pairs for s in pair)
    checkpoints = document["e2e database checkpoints begun in each run"]
    assert len(checkpoints) == TINY.runs
    assert all(isinstance(n, int) and n >= 0 for n in checkpoints)
