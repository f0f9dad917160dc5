"""Questions people and systems ask of the read models."""

from __future__ import annotations

from datetime import date
from typing import Any

from projections.database import Database

STAGES = ("APPLICANT", "ACTIVIST", "DEVELOPMENT_TARGET", "PROBATIONARY", "FULL")

_SUBTREE = """WITH RECURSIVE subtree(id) AS (
    SELECT id FROM rm_organisations WHERE id = ?
    UNION ALL
    SELECT o.id FROM rm_organisations o JOIN subtree s ON o.parent_id = s.id)"""


class UnknownOrganisation(LookupError):
    pass


def organisation(db: Database, code: str) -> dict[str, Any]:
    rows = db.query(
        "SELECT id, code, name, kind, level, parent_id FROM rm_organisations WHERE code = ?",
        (code,),
    )
    if not rows:
        raise UnknownOrganisation(f"no organisation has code {code!r}")
    keys = ("id", "code", "name", "kind", "level", "parent_id")
    return dict(zip(keys, rows[0], strict=True))


def children(db: Database, organisation_id: str) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT id, code, name, level FROM rm_organisations WHERE parent_id = ? ORDER BY code",
        (organisation_id,),
    )
    return [dict(zip(("id", "code", "name", "level"), r, strict=True)) for r in rows]


def roster(
    db: Database, code: str, *, limit: int = 100, after_name: str = ""
) -> list[dict[str, Any]]:
    """Members whose formal relationship lies with this organisation (in-transit members
    still count at the sender), a page at a time, by name."""
    org = organisation(db, code)
    rows = db.query(
        "SELECT id, name, sex, birth_date, stage, stage_since, transfer_to FROM rm_members"
        " WHERE organisation_id = ? AND name > ? ORDER BY name LIMIT ?",
        (org["id"], after_name, limit),
    )
    keys = ("member_id", "name", "sex", "birth_date", "stage", "stage_since", "in_transit_to")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def rollup(db: Database, code: str) -> dict[str, Any]:
    """Counts by stage and sex for the organisation and everything under it."""
    org = organisation(db, code)
    rows = db.query(
        _SUBTREE + " SELECT m.stage, m.sex, count(*) FROM rm_members m"
        " JOIN subtree s ON m.organisation_id = s.id GROUP BY m.stage, m.sex",
        (org["id"],),
    )
    by_stage = dict.fromkeys(STAGES, 0)
    by_sex: dict[str, int] = {}
    for stage, sex, count in rows:
        by_stage[stage] = by_stage.get(stage, 0) + count
        by_sex[sex] = by_sex.get(sex, 0) + count
    return {
        "organisation": org["code"],
        "level": org["level"],
        "total": sum(by_stage.values()),
        "by_stage": by_stage,
        "by_sex": by_sex,
    }


def roster_as_of(db: Database, code: str, day: date) -> list[dict[str, Any]]:
    """Who belonged to the organisation on `day`, by effective dates (late changes included)."""
    org = organisation(db, code)
    rows = db.query(
        """WITH latest AS (
            SELECT member_id, attribute, value, ROW_NUMBER() OVER (
                PARTITION BY member_id, attribute ORDER BY effective_date DESC, version DESC
            ) AS rank
            FROM rm_member_history
            WHERE effective_date <= ? AND attribute IN ('organisation', 'stage'))
        SELECT o.member_id, m.name, s.value FROM latest o
        JOIN latest s ON s.member_id = o.member_id AND s.attribute = 'stage' AND s.rank = 1
        JOIN rm_members m ON m.id = o.member_id
        WHERE o.attribute = 'organisation' AND o.rank = 1 AND o.value = ?
        ORDER BY m.name""",
        (day.isoformat(), org["id"]),
    )
    return [{"member_id": r[0], "name": r[1], "stage": r[2]} for r in rows]


def member_trail(
    db: Database, member_id: str, *, limit: int = 100, after_version: int = 0
) -> list[dict[str, Any]]:
    """Every event of one aggregate in recorded order, a page at a time."""
    rows = db.query(
        "SELECT version, event_type, effective_date, recorded_at, request_id, source_system,"
        " store_position FROM rm_audit WHERE aggregate_id = ? AND version > ?"
        " ORDER BY version LIMIT ?",
        (member_id, after_version, limit),
    )
    keys = (
        "version",
        "event_type",
        "effective_date",
        "recorded_at",
        "request_id",
        "source_system",
        "store_position",
    )
    return [dict(zip(keys, r, strict=True)) for r in rows]
