"""The annual (as of 31 December) and half-year (as of 30 June) reports of one level,
as JSON or CSV.

A report is the rollup as of the report day (by effective dates, so changes recorded
after the day but effective before it are in), the statistics of the period from
1 January to the report day, the organisations active on that day, and how many items
each compliance view lists when judged on the report day (the lists themselves are
`projections.compliance`).
CSV is flat: one row per figure, `section,key,value`, so any spreadsheet reads it.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

from domain.policy import DEFAULT_POLICY, Policy
from projections.compliance import compliance
from projections.database import Database
from projections.queries import rollup
from projections.statistics import statistics

CSV_HEADER = ("section", "key", "value")


def report_day(year: int, half: bool) -> date:
    return date(year, 6, 30) if half else date(year, 12, 31)


def report(
    db: Database, code: str, year: int, *, half: bool = False, policy: Policy = DEFAULT_POLICY
) -> dict[str, Any]:
    day = report_day(year, half)
    figures = rollup(db, code, as_of=day)
    period = statistics(db, code, date(year, 1, 1), day)
    views = compliance(db, code, day, policy)
    return {
        "organisation": figures["organisation"],
        "level": figures["level"],
        "kind": "half-year" if half else "annual",
        "as_of": day.isoformat(),
        "period": {"from": period["from"], "to": period["to"]},
        "members": {k: v for k, v in figures.items() if k not in ("organisation", "level")},
        "movements": {
            k: period[k]
            for k in (
                "admissions",
                "conversions",
                "exits",
                "applications_withdrawn",
                "transfers_in",
                "transfers_out",
            )
        },
        "organisations": period["organisations"],
        "compliance": {k: len(v) for k, v in views.items() if isinstance(v, list)},
    }


def _rows(prefix: str, value: Any) -> list[tuple[str, str, Any]]:
    if isinstance(value, dict):
        rows: list[tuple[str, str, Any]] = []
        for key, inner in value.items():
            if isinstance(inner, dict):
                rows.extend(_rows(f"{prefix}.{key}" if prefix else key, inner))
            else:
                rows.append((prefix, str(key), inner))
        return rows
    return [(prefix, "", value)]


def to_csv(result: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for key in ("organisation", "level", "kind", "as_of"):
        writer.writerow(("report", key, result[key]))
    for section in ("period", "members", "movements", "organisations", "compliance"):
        for row in _rows(section, result[section]):
            writer.writerow("" if v is None else v for v in row)
    return out.getvalue()


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False, indent=2, sort_keys=False)


def render(result: dict[str, Any], fmt: str) -> str:
    if fmt == "csv":
        return to_csv(result)
    if fmt == "json":
        return to_json(result)
    raise ValueError(f"unknown format {fmt!r}: csv or json")
