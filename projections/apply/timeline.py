"""A member's history rows folded into intervals, for "as of" and "where was M on D".

Refolded from all of the member's history rows after each of their events: the rows are
few per member, and a late-arriving change (an earlier effective date recorded later)
then lands in its place without any special case.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from projections.apply.common import Record, day, text
from projections.database import Cursor
from projections.tables import OPEN_END

# History attribute → timeline column.
COLUMNS = {
    "organisation": "organisation_id",
    "stage": "stage",
    "standing": "standing",
    "status": "status",
    "episode": "episode",
    "in_transit_to": "in_transit_to",
    "placement": "placement_organisation_id",
    "community": "community_id",
}


def record_history(cur: Cursor, member_id: str, record: Record, **attributes: Any) -> None:
    """One history row per attribute this event changes, at its effective date."""
    cur.executemany(
        "INSERT INTO rm_member_history (member_id, version, attribute, effective_date, value)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(member_id, record["version"], n, day(record), text(v)) for n, v in attributes.items()],
    )


def refold(cur: Cursor, member_id: str) -> None:
    if cur.deferred_refolds is not None:
        cur.deferred_refolds.add(member_id)
        return
    refold_many(cur, [member_id])


def refold_many(cur: Cursor, member_ids: Collection[str]) -> None:
    """The timelines of these members, from their history rows: one read, one delete and
    one insert for the lot."""
    if not member_ids:
        return
    marks = ", ".join("?" * len(member_ids))
    cur.execute(
        "SELECT member_id, attribute, effective_date, value FROM rm_member_history"
        f" WHERE member_id IN ({marks}) ORDER BY member_id, effective_date, version",
        tuple(member_ids),
    )
    by_member: dict[str, list[tuple[str, str, Any]]] = {m: [] for m in member_ids}
    for member_id, attribute, effective_date, value in cur.fetchall():
        by_member[member_id].append((attribute, effective_date, value))
    cur.execute(f"DELETE FROM rm_member_timeline WHERE member_id IN ({marks})", tuple(member_ids))
    columns = list(COLUMNS.values())
    cur.executemany(
        "INSERT INTO rm_member_timeline (member_id, valid_from, valid_to, "
        + ", ".join(columns)
        + ") VALUES (?, ?, ?"
        + ", ?" * len(columns)
        + ")",
        [row for member_id, rows in by_member.items() for row in timeline_rows(member_id, rows)],
    )


def timeline_rows(member_id: str, rows: list[tuple[str, str, Any]]) -> list[tuple[Any, ...]]:
    """rm_member_timeline rows from a member's history rows (attribute, effective date,
    value), given in effective-date then version order."""
    state: dict[str, Any] = dict.fromkeys(COLUMNS.values())
    spans: list[tuple[str, dict[str, Any]]] = []
    for attribute, effective_date, value in rows:
        column = COLUMNS.get(attribute)
        if column is None:
            continue
        state[column] = int(value) if column == "episode" and value is not None else value
        if spans and spans[-1][0] == effective_date:
            spans[-1] = (effective_date, dict(state))
        elif not spans or spans[-1][1] != state:
            spans.append((effective_date, dict(state)))
    # Same-day changes collapse into one span; equal neighbours merge.
    merged: list[tuple[str, dict[str, Any]]] = []
    for start, values in spans:
        if merged and merged[-1][1] == values:
            continue
        merged.append((start, values))
    columns = list(COLUMNS.values())
    return [
        (
            member_id,
            start,
            merged[i + 1][0] if i + 1 < len(merged) else OPEN_END,
            *(values[c] for c in columns),
        )
        for i, (start, values) in enumerate(merged)
    ]
