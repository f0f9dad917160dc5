"""The README's subscriber example decodes what the registry publishes."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import uuid4

from schemas.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_example_decodes_a_published_record() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Subscribing (downstream systems)", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    record = {
        "event_id": "x:1",
        "aggregate_id": uuid4(),
        "version": 1,
        "effective_date": date(2026, 1, 2),
        "recorded_at": datetime.now(UTC),
        "name": "新名称",
    }
    value = load_catalog().encode("registry.events.OrganisationRenamed", record)
    namespace: dict[str, object] = {}
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(code.group(1), namespace)
    finally:
        os.chdir(cwd)
    decoded = namespace["decode"](value)  # type: ignore[operator]
    assert decoded["name"] == "新名称" and decoded["version"] == 1
