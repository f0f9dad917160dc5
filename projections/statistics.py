"""Period statistics of DOMAIN.md for one level (an organisation and its subtree).

Admissions and conversions count where approved, exits where decided (withdrawal and
death at the formal organisation), transfers only when they cross the subtree's
boundary: a move between two branches of one district is neither in nor out for the
district. The subtree is today's (re-parenting moves history with it).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from projections.database import Database
from projections.queries import MEMBER_STAGES, organisation
from projections.subtree import subtree_sql

ORGANISATION_KINDS = ("COMMITTEE", "GENERAL_BRANCH", "BRANCH", "JOINT_BRANCH", "TEMPORARY_BRANCH")
EXIT_KINDS = ("WITHDRAWN", "REMOVED", "EXPELLED", "DIED", "CANCELLED")


class BadPeriod(ValueError):
    pass


def statistics(db: Database, code: str, start: date, end: date) -> dict[str, Any]:
    """Figures for [start, end], both days included."""
    if end < start:
        raise BadPeriod(f"the period ends ({end}) before it starts ({start})")
    org = organisation(db, code)
    sub, params = subtree_sql(org["id"], None)
    period = (start.isoformat(), end.isoformat())

    def count(where: str, extra: tuple[Any, ...] = ()) -> list[Any]:
        return db.query(
            f"{sub} SELECT kind, detail, stage, count(*) FROM rm_movements WHERE {where}"
            " AND effective_date BETWEEN ? AND ? GROUP BY kind, detail, stage",
            (*params, *extra, *period),
        )

    inside = "organisation_id IN (SELECT id FROM subtree)"
    rows = count(f"{inside} AND kind IN ('ADMITTED', 'CONVERTED', 'EXIT')")
    admissions = sum(n for k, _, _, n in rows if k == "ADMITTED")
    conversions = sum(n for k, _, _, n in rows if k == "CONVERTED")
    exits = dict.fromkeys(EXIT_KINDS, 0)
    withdrawn_applications = 0
    for kind, detail, stage, n in rows:
        if kind != "EXIT":
            continue
        # Before admission a withdrawal ends an application, not a membership.
        if stage not in MEMBER_STAGES:
            withdrawn_applications += n
        else:
            exits[detail] = exits.get(detail, 0) + n
    transfers_out = count(
        f"kind = 'TRANSFER' AND {inside} AND other_organisation_id NOT IN (SELECT id FROM subtree)"
    )
    transfers_in = count(
        "kind = 'TRANSFER' AND other_organisation_id IN (SELECT id FROM subtree)"
        " AND organisation_id NOT IN (SELECT id FROM subtree)"
    )
    return {
        "organisation": org["code"],
        "level": org["level"],
        "from": period[0],
        "to": period[1],
        "admissions": admissions,
        "conversions": conversions,
        "exits": {**exits, "total": sum(exits.values())},
        "applications_withdrawn": withdrawn_applications,
        "transfers_in": sum(r[3] for r in transfers_in),
        "transfers_out": sum(r[3] for r in transfers_out),
        "organisations": organisation_counts(db, org["id"], end),
    }


def organisation_counts(db: Database, root_id: str, day: date) -> dict[str, int]:
    """Organisations by kind active on `day` in the subtree (the root included)."""
    sub, params = subtree_sql(root_id, day)
    iso = day.isoformat()
    rows = db.query(
        f"{sub} SELECT o.kind, count(*) FROM rm_organisations o JOIN subtree s ON s.id = o.id"
        " WHERE o.established_on <= ? AND (o.closed_on IS NULL OR o.closed_on > ?)"
        " GROUP BY o.kind",
        (*params, iso, iso),
    )
    counts = dict.fromkeys(ORGANISATION_KINDS, 0)
    counts.update({k: int(n) for k, n in rows})
    return counts
