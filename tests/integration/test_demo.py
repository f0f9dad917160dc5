"""The main job (`registry demo`) keeps working, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re

from registry.config import Settings
from registry.demo import run_demo


def test_the_demo_runs_end_to_end(settings: Settings) -> None:
    lines: list[str] = []
    summary = run_demo(settings, members=12, out=lines.append)
    text = "\n".join(lines)
    outcomes = summary["outcomes"].values()
    rejected = sorted(o["code"] for o in outcomes if not o["accepted"])
    assert rejected == ["INVALID_REQUEST", "NOT_AUTHORISED"]
    assert "DUPLICATE_REQUEST_ID_CONFLICT" in text
    assert "read models caught up" in text
    assert re.search(r"Sealed history: [1-9]\d* block\(s\).*audit findings: 0", text)
    assert "registry.events.MemberApplied" in text
