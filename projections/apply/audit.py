"""rm_audit rows: every applied event, member or organisation, with its whole payload."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from json import encoder as _json_encoder
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
    kind = value.__class__
    if kind is date or kind is datetime:  # nearly every call: before the slower checks
        return value.isoformat()
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _payload_encoder() -> Callable[[Record], str]:
    """json.dumps(record, ensure_ascii=False, sort_keys=True, default=_json_value), with
    the C encoder made once: json.dumps builds a JSONEncoder and a C encoder for every
    call (a third of a payload's cost, one payload per applied event). No circular
    reference check: a decoded Avro record is a tree."""
    make = _json_encoder.c_make_encoder
    if make is None:  # no C accelerator: json.dumps itself
        return lambda record: json.dumps(
            record, ensure_ascii=False, sort_keys=True, default=_json_value
        )
    encode = make(None, _json_value, _json_encoder.encode_basestring, None, ": ", ", ",
                  True, False, True)  # fmt: skip
    return lambda record: "".join(encode(record, 0))


payload = _payload_encoder()


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
    effective = record["effective_date"].isoformat()
    recorded = record["recorded_at"].isoformat()
    return (
        aggregate_id,
        int(record["version"]),
        kind,
        event_type,
        effective,
        recorded,
        record.get("request_id"),
        record.get("source_system"),
        position,
        # The two dates in the payload as just written (the same text the encoder would
        # make of them again: a timestamp's isoformat is a few µs).
        payload({**record, "effective_date": effective, "recorded_at": recorded}),
        organisation_id,
    )
