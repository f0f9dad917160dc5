"""Applying one published event to the read models, exactly once.

Input is what a downstream system sees: the schema name and the decoded Avro record.
Every event in schemas/events is handled (members.py, organisations.py); events that
change no read model beyond the audit trail are listed there too, so a new event type
without a decision fails the completeness test instead of passing silently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from projections.apply.common import Record, plain
from projections.apply.members import MEMBER_HANDLERS
from projections.apply.organisations import ORGANISATION_HANDLERS
from projections.apply.timeline import refold_many
from projections.database import Cursor

log = logging.getLogger(__name__)

HANDLERS = {**MEMBER_HANDLERS, **ORGANISATION_HANDLERS}
# Published on other topics, never projected here.
NOT_PROJECTED = frozenset({"ChangeOutcome", "DeadLetter", "AnchorSealed"})

__all__ = ["HANDLERS", "NOT_PROJECTED", "Event", "Record", "apply_event", "apply_events"]


# Raises the stored version by exactly one. A first version is inserted only as 1; a
# later one only onto its predecessor. Nothing comes back for a repeat (same or lower
# version) or a gap (see below), and two projectors racing on one partition during a
# rebalance cannot both apply an event: the second waits for the first's row lock and
# then finds nothing to raise.
_RAISE_VERSION = (
    "INSERT INTO rm_versions (aggregate_id, version)"
    " SELECT ?, ? WHERE ? = 1 OR EXISTS (SELECT 1 FROM rm_versions WHERE aggregate_id = ?)"
    " ON CONFLICT (aggregate_id) DO UPDATE SET version = excluded.version"
    " WHERE rm_versions.version = excluded.version - 1 RETURNING version"
)
_INSERT_AUDIT = (
    "INSERT INTO rm_audit (aggregate_id, version, aggregate_kind, event_type, effective_date,"
    " recorded_at, request_id, source_system, store_position, payload, organisation_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
    # A member's event is filed under the organisation holding them after it.
    " COALESCE(?, (SELECT organisation_id FROM rm_members WHERE id = ?)))"
)

Event = tuple[str, Record, int | None]  # (schema full name, decoded record, store position)


def apply_event(cur: Cursor, schema_name: str, record: Record, position: int | None) -> bool:
    """Returns False for an event already applied (same aggregate id, same or lower
    version) or one whose previous version has not been applied yet."""
    return apply_events(cur, [(schema_name, record, position)]) == 1


def apply_events(cur: Cursor, events: Sequence[Event]) -> int:
    """Applies a batch in order, exactly once each; returns how many were applied.

    Versions are raised for the whole batch first (one round trip on PostgreSQL), then
    each applied event's changes are sent without waiting for answers, and each touched
    member's timeline is refolded once at the end.
    """
    raised = cur.each_returning(
        _RAISE_VERSION,
        [
            (str(r["aggregate_id"]), int(r["version"]), int(r["version"]), str(r["aggregate_id"]))
            for _, r, _ in events
        ],
    )
    cur.deferred_refolds = set()
    applied = 0
    try:
        for (schema_name, record, position), accepted in zip(events, raised, strict=True):
            if accepted is None:
                _explain_skip(record)
                continue
            _apply_one(cur, schema_name, record, position)
            applied += 1
        refold_many(cur, sorted(cur.deferred_refolds))
    finally:
        cur.deferred_refolds = None
    return applied


def _explain_skip(record: Record) -> None:
    # A repeat is routine (the relay is at least once). A gap only comes from a relay
    # epoch (records sent to a broker that had just lost its topics, ahead of the full
    # re-publication): the missing versions follow with the new epoch, in order.
    log.debug("%s v%s not applied (repeat or gap)", record["aggregate_id"], record["version"])


def _apply_one(cur: Cursor, schema_name: str, record: Record, position: int | None) -> None:
    aggregate_id = str(record["aggregate_id"])
    short_name = schema_name.rsplit(".", 1)[-1]
    handler = HANDLERS.get(short_name)
    if handler is not None:
        handler(cur, aggregate_id, record)
    is_organisation = short_name.startswith("Organisation")
    cur.execute(
        _INSERT_AUDIT,
        (
            aggregate_id,
            int(record["version"]),
            "Organisation" if is_organisation else "Member",
            short_name,
            record["effective_date"].isoformat(),
            record["recorded_at"].isoformat(),
            record.get("request_id"),
            record.get("source_system"),
            position,
            json.dumps(plain(record), ensure_ascii=False, sort_keys=True),
            aggregate_id if is_organisation else None,
            aggregate_id,
        ),
    )
