"""History by effective date: rosters as of a day (one organisation or a whole subtree,
with the structure of that day) and where a member was on a day.

Answers come from rm_member_timeline, whose intervals are refolded from the history
rows whenever a member's event arrives, so late and out-of-order changes are included.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from projections.database import Database
from projections.queries import UnknownMember, _limit, organisation
from projections.subtree import subtree_sql

_KEYS = ("member_id", "name", "organisation_id", "organisation_code", "stage", "standing",
         "in_transit_to", "placement_organisation_id", "community_id")  # fmt: skip


def roster_as_of_page(
    db: Database,
    code: str,
    day: date,
    *,
    subtree: bool = False,
    limit: int = 100,
    after: str | None = None,
) -> dict[str, Any]:
    """Who was counted at the organisation (or anywhere under it, by the tree of that
    day) on `day`, by effective dates, by name; `after` is the previous page's last id."""
    org = organisation(db, code)
    limit = _limit(limit)
    iso = day.isoformat()
    if subtree:
        prefix, params = subtree_sql(org["id"], day)
        where_org = "t.organisation_id IN (SELECT id FROM subtree)"
    else:
        prefix, params = "", ()
        where_org = "t.organisation_id = ?"
        params = (org["id"],)
    after_key = ("", "")
    if after:
        rows = db.query("SELECT name, id FROM rm_members WHERE id = ?", (after,))
        after_key = rows[0] if rows else (after, after)
    rows = db.query(
        f"{prefix} SELECT t.member_id, m.name, t.organisation_id, o.code, t.stage, t.standing,"
        " t.in_transit_to, t.placement_organisation_id, t.community_id"
        " FROM rm_member_timeline t JOIN rm_members m ON m.id = t.member_id"
        " LEFT JOIN rm_organisations o ON o.id = t.organisation_id"
        f" WHERE {where_org} AND t.valid_from <= ? AND t.valid_to > ?"
        " AND t.status = 'ACTIVE' AND (m.name, m.id) > (?, ?)"
        " ORDER BY m.name, m.id LIMIT ?",
        (*params, iso, iso, *after_key, limit + 1),
    )
    items = [dict(zip(_KEYS, r, strict=True)) for r in rows[:limit]]
    return {
        "organisation": org["code"],
        "as_of": iso,
        "subtree": subtree,
        "items": items,
        "next": items[-1]["member_id"] if len(rows) > limit and items else None,
    }


def roster_as_of(
    db: Database, code: str, day: date, *, subtree: bool = False, limit: int = 1000
) -> list[dict[str, Any]]:
    return roster_as_of_page(db, code, day, subtree=subtree, limit=limit)["items"]


def where(db: Database, member_id: str, day: date) -> dict[str, Any]:
    """The member's formal organisation, stage, standing and status on `day`, with any
    transfer in transit, placement and community registration of that day."""
    known = db.query("SELECT name FROM rm_members WHERE id = ?", (member_id,))
    if not known:
        raise UnknownMember(member_id)
    rows = db.query(
        "SELECT t.valid_from, t.valid_to, t.organisation_id, o.code, t.stage, t.standing,"
        " t.status, t.episode, t.in_transit_to, t.placement_organisation_id, t.community_id"
        " FROM rm_member_timeline t LEFT JOIN rm_organisations o ON o.id = t.organisation_id"
        " WHERE t.member_id = ? AND t.valid_from <= ? AND t.valid_to > ?",
        (member_id, day.isoformat(), day.isoformat()),
    )
    result: dict[str, Any] = {"member_id": member_id, "name": known[0][0], "on": day.isoformat()}
    if not rows:
        # Before the first application: no relationship with any organisation yet.
        return {**result, "known": False}
    keys = ("valid_from", "valid_to", "organisation_id", "organisation_code", "stage",
            "standing", "status", "episode", "in_transit_to", "placement_organisation_id",
            "community_id")  # fmt: skip
    return {**result, "known": True, **dict(zip(keys, rows[0], strict=True))}


def timeline(db: Database, member_id: str) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT valid_from, valid_to, organisation_id, stage, standing, status, episode,"
        " in_transit_to, placement_organisation_id, community_id FROM rm_member_timeline"
        " WHERE member_id = ? ORDER BY valid_from",
        (member_id,),
    )
    keys = ("valid_from", "valid_to", "organisation_id", "stage", "standing", "status",
            "episode", "in_transit_to", "placement_organisation_id", "community_id")  # fmt: skip
    return [dict(zip(keys, r, strict=True)) for r in rows]
