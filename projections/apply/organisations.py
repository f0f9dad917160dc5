"""Organisation events → rm_organisations (now), rm_organisation_history (parent and
status by effective date, for subtrees as of a date), rm_organisation_units,
rm_coordination_units (a street's coordination body)."""

from __future__ import annotations

from typing import Any

from projections.apply.common import Handler, Record, day, text
from projections.database import Cursor
from projections.tables import OPEN_END


def _history(cur: Cursor, organisation_id: str, r: Record, **attributes: Any) -> None:
    cur.executemany(
        "INSERT INTO rm_organisation_history (organisation_id, version, attribute,"
        " effective_date, value) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(organisation_id, r["version"], n, day(r), text(v)) for n, v in attributes.items()],
    )


def _established(cur: Cursor, organisation_id: str, r: Record) -> None:
    cur.execute(
        "INSERT INTO rm_organisations (id, code, name, kind, level, parent_id, established_on,"
        " registration_number, supervising_body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO NOTHING",
        (
            organisation_id,
            r["code"],
            r["name"],
            r["kind"],
            r["level"],
            text(r.get("parent_id")),
            day(r),
            r.get("registration_number"),
            r.get("supervising_body"),
        ),
    )
    _history(cur, organisation_id, r, parent=r.get("parent_id"), status="ACTIVE")


def _renamed(cur: Cursor, organisation_id: str, r: Record) -> None:
    cur.execute("UPDATE rm_organisations SET name = ? WHERE id = ?", (r["name"], organisation_id))


def _reparented(cur: Cursor, organisation_id: str, r: Record) -> None:
    # Only the parent changes: the subtree walk then carries everything under it along.
    cur.execute(
        "UPDATE rm_organisations SET parent_id = ? WHERE id = ?",
        (str(r["parent_id"]), organisation_id),
    )
    _history(cur, organisation_id, r, parent=r["parent_id"])


def _closed(status: str) -> Handler:
    def apply(cur: Cursor, organisation_id: str, r: Record) -> None:
        # The domain refuses to close an organisation that still holds members or
        # sub-organisations, so nothing moves here; the row stays for history and trails.
        cur.execute(
            "UPDATE rm_organisations SET status = ?, closed_on = ?, merged_into_id = ?"
            " WHERE id = ?",
            (status, day(r), text(r.get("into_organisation_id")), organisation_id),
        )
        _history(cur, organisation_id, r, status=status)

    return apply


def _unit_covered(cur: Cursor, organisation_id: str, r: Record) -> None:
    cur.execute(
        "INSERT INTO rm_organisation_units (organisation_id, unit_code, covered_since)"
        " VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (organisation_id, r["unit_code"], day(r)),
    )


def _unit_released(cur: Cursor, organisation_id: str, r: Record) -> None:
    cur.execute(
        "DELETE FROM rm_organisation_units WHERE organisation_id = ? AND unit_code = ?",
        (organisation_id, r["unit_code"]),
    )


def _coordination_joined(cur: Cursor, street_id: str, r: Record) -> None:
    cur.execute(
        "INSERT INTO rm_coordination_units (street_id, unit_id, version, joined_on, left_on)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (street_id, text(r["unit_organisation_id"]), r["version"], day(r), OPEN_END),
    )


def _coordination_left(cur: Cursor, street_id: str, r: Record) -> None:
    # The domain lets a unit leave only while it is in the body, so one row is open.
    cur.execute(
        "UPDATE rm_coordination_units SET left_on = ?"
        " WHERE street_id = ? AND unit_id = ? AND left_on = ?",
        (day(r), street_id, text(r["unit_organisation_id"]), OPEN_END),
    )


ORGANISATION_HANDLERS: dict[str, Handler] = {
    "OrganisationEstablished": _established,
    "OrganisationRenamed": _renamed,
    "OrganisationReparented": _reparented,
    "OrganisationMerged": _closed("MERGED"),
    "OrganisationDissolved": _closed("DISSOLVED"),
    "OrganisationUnitCovered": _unit_covered,
    "OrganisationUnitReleased": _unit_released,
    "OrganisationCoordinationUnitJoined": _coordination_joined,
    "OrganisationCoordinationUnitLeft": _coordination_left,
}
