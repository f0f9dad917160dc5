"""rm_audit rows: every applied event, member or organisation, with its whole payload."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from uuid import UUID

from projections.apply.common import Record

AUDIT_COLUMNS = (
    "aggregate_id", "version", "aggregate_kind", "event_type", "effective_date",
    "recorded_at", "request_id", "source_system", "store_position", "payload",
    "organisation_id",
)  # fmt: skip


def _json_value(value: Any) -> Any:
    # What common.plain does, but called by the C encoder only for the few values JSON
    # has no type for, instead of copying every record in Python first.
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def payload(record: Record) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, default=_json_value)


# audit_row's arguments: an event's row is worked out as it is written (row_writer).
PendingAudit = tuple[str, str, str, Record, int | None, str | None]


def audit_row(
    event_type: str,
    aggregate_id: str,
    kind: str,
    record: Record,
    position: int | None,
    organisation_id: str | None,
) -> tuple[Any, ...]:
    """`organisation_id`: the organisation the event concerns (a member's formal one
    after the event, or the organisation itself), so one trail serves both."""
    return (
        aggregate_id,
        int(record["version"]),
        kind,
        event_type,
        record["effective_date"].isoformat(),
        record["recorded_at"].isoformat(),
        record.get("request_id"),
        record.get("source_system"),
        position,
        payload(record),
        organisation_id,
    )
