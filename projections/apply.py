"""Applying one published event to the read models, exactly once.

Input is what a downstream system sees: the schema name and the decoded Avro record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from projections.database import Cursor

Record = dict[str, Any]


def apply_event(cur: Cursor, schema_name: str, record: Record, position: int | None) -> bool:
    """Returns False for an event already applied (same aggregate id, same or lower version)."""
    aggregate_id = str(record["aggregate_id"])
    version = int(record["version"])
    cur.execute("SELECT version FROM rm_versions WHERE aggregate_id = ?", (aggregate_id,))
    row = cur.fetchone()
    if row is not None and row[0] >= version:
        return False
    short_name = schema_name.rsplit(".", 1)[-1]
    handler = _HANDLERS.get(short_name)
    if handler is not None:
        handler(cur, aggregate_id, record)
    cur.execute(
        "INSERT INTO rm_audit (aggregate_id, version, aggregate_kind, event_type, effective_date,"
        " recorded_at, request_id, source_system, store_position, payload)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            aggregate_id,
            version,
            "Organisation" if short_name.startswith("Organisation") else "Member",
            short_name,
            record["effective_date"].isoformat(),
            record["recorded_at"].isoformat(),
            record.get("request_id"),
            record.get("source_system"),
            position,
            json.dumps(_payload(record), ensure_ascii=False, sort_keys=True),
        ),
    )
    cur.execute(
        "INSERT INTO rm_versions (aggregate_id, version) VALUES (?, ?)"
        " ON CONFLICT (aggregate_id) DO UPDATE SET version = excluded.version",
        (aggregate_id, version),
    )
    return True


def _payload(record: Record) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, date | datetime):
            return value.isoformat()
        if isinstance(value, UUID):
            return str(value)
        if isinstance(value, bytes):
            return value.hex()
        return value

    return {k: plain(v) for k, v in record.items()}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _history(cur: Cursor, member_id: str, record: Record, **attributes: Any) -> None:
    cur.executemany(
        "INSERT INTO rm_member_history (member_id, version, attribute, effective_date, value)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (member_id, record["version"], name, record["effective_date"].isoformat(), _text(v))
            for name, v in attributes.items()
        ],
    )


# -- members ------------------------------------------------------------------


def _member_applied(cur: Cursor, member_id: str, r: Record) -> None:
    cur.execute(
        "INSERT INTO rm_members (id, name, sex, birth_date, ethnicity, education, occupation,"
        " organisation_id, stage, stage_since, applied_on)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'APPLICANT', ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, organisation_id ="
        " excluded.organisation_id, stage = 'APPLICANT', stage_since = excluded.stage_since,"
        " applied_on = excluded.applied_on, transfer_to = NULL, transfer_letter = NULL,"
        " transfer_valid_until = NULL",
        (
            member_id,
            r["name"],
            r["sex"],
            r["birth_date"].isoformat(),
            r["ethnicity"],
            r["education"],
            r["occupation"],
            str(r["organisation_id"]),
            r["effective_date"].isoformat(),
            r["effective_date"].isoformat(),
        ),
    )
    _history(cur, member_id, r, organisation=r["organisation_id"], stage="APPLICANT")


def _stage(stage: str) -> Callable[[Cursor, str, Record], None]:
    def apply(cur: Cursor, member_id: str, r: Record) -> None:
        cur.execute(
            "UPDATE rm_members SET stage = ?, stage_since = ? WHERE id = ?",
            (stage, r["effective_date"].isoformat(), member_id),
        )
        _history(cur, member_id, r, stage=stage)

    return apply


def _transfer_started(cur: Cursor, member_id: str, r: Record) -> None:
    # In transit the member still counts at the sender: only the transfer columns move.
    cur.execute(
        "UPDATE rm_members SET transfer_to = ?, transfer_letter = ?, transfer_valid_until = ?"
        " WHERE id = ?",
        (str(r["to_organisation_id"]), r["letter_number"], r["valid_until"].isoformat(), member_id),
    )
    _history(cur, member_id, r, in_transit_to=r["to_organisation_id"])


def _transfer_accepted(cur: Cursor, member_id: str, r: Record) -> None:
    cur.execute(
        "UPDATE rm_members SET organisation_id = ?, transfer_to = NULL, transfer_letter = NULL,"
        " transfer_valid_until = NULL WHERE id = ?",
        (str(r["to_organisation_id"]), member_id),
    )
    _history(cur, member_id, r, organisation=r["to_organisation_id"], in_transit_to=None)


def _transfer_refused(cur: Cursor, member_id: str, r: Record) -> None:
    cur.execute(
        "UPDATE rm_members SET transfer_to = NULL, transfer_letter = NULL,"
        " transfer_valid_until = NULL WHERE id = ?",
        (member_id,),
    )
    _history(cur, member_id, r, in_transit_to=None)


# -- organisations ------------------------------------------------------------


def _organisation_established(cur: Cursor, organisation_id: str, r: Record) -> None:
    cur.execute(
        "INSERT INTO rm_organisations (id, code, name, kind, level, parent_id, established_on,"
        " registration_number, supervising_body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            organisation_id,
            r["code"],
            r["name"],
            r["kind"],
            r["level"],
            _text(r.get("parent_id")),
            r["effective_date"].isoformat(),
            r.get("registration_number"),
            r.get("supervising_body"),
        ),
    )


def _organisation_renamed(cur: Cursor, organisation_id: str, r: Record) -> None:
    cur.execute("UPDATE rm_organisations SET name = ? WHERE id = ?", (r["name"], organisation_id))


def _organisation_reparented(cur: Cursor, organisation_id: str, r: Record) -> None:
    cur.execute(
        "UPDATE rm_organisations SET parent_id = ? WHERE id = ?",
        (str(r["parent_id"]), organisation_id),
    )


_HANDLERS: dict[str, Callable[[Cursor, str, Record], None]] = {
    "MemberApplied": _member_applied,
    "MemberActivistAdmitted": _stage("ACTIVIST"),
    "MemberTransferStarted": _transfer_started,
    "MemberTransferAccepted": _transfer_accepted,
    "MemberTransferRefused": _transfer_refused,
    "OrganisationEstablished": _organisation_established,
    "OrganisationRenamed": _organisation_renamed,
    "OrganisationReparented": _organisation_reparented,
}
