"""Applying published events to the read models, exactly once, a batch at a time.

Input is what a downstream system sees: the schema name and the decoded Avro record.
Every event in schemas/events is handled (members.py, organisations.py); events that
change no read model beyond the audit trail are listed there too, so a new event type
without a decision fails the completeness test instead of passing silently.

A batch costs a few set-based statements, whatever its size: the version gate
(versions.py) in one read and one write, member events folded in memory and written
per table (member_batch.py), the audit rows in one COPY. Organisation events (a few
thousand for a city) keep a statement or two each.
"""

from __future__ import annotations

from collections.abc import Sequence

from projections.apply.audit import AUDIT_COLUMNS, PendingAudit, audit_row
from projections.apply.common import Handler, Record
from projections.apply.member_batch import MemberEvent, apply_member_events
from projections.apply.members import MEMBER_HANDLERS, MemberHandler
from projections.apply.organisations import ORGANISATION_HANDLERS
from projections.apply.versions import Candidate, ConcurrentApply, claim
from projections.database import Cursor

HANDLERS: dict[str, MemberHandler | Handler] = {**MEMBER_HANDLERS, **ORGANISATION_HANDLERS}
# Published on other topics, never projected here.
NOT_PROJECTED = frozenset({"ChangeOutcome", "DeadLetter", "AnchorSealed"})

__all__ = [
    "HANDLERS",
    "NOT_PROJECTED",
    "ConcurrentApply",
    "Event",
    "Record",
    "apply_event",
    "apply_events",
]

Event = tuple[str, Record, int | None]  # (schema full name, decoded record, store position)


def apply_event(cur: Cursor, schema_name: str, record: Record, position: int | None) -> bool:
    """Returns False for an event already applied (same aggregate id, same or lower
    version) or one whose previous version has not been applied yet."""
    return apply_events(cur, [(schema_name, record, position)]) == 1


def apply_events(cur: Cursor, events: Sequence[Event]) -> int:
    """Applies a batch in order, exactly once each; returns how many were applied.

    Raises ConcurrentApply when another transaction got to some of the same aggregates
    first: the caller rolls back and applies the batch again."""
    if not events:
        return 0
    accepted, known = claim(
        cur,
        [
            (str(record["aggregate_id"]), int(record["version"]), (name, record, position))
            for name, record, position in events
        ],
    )
    audit, members = apply_organisation_events(cur, accepted)
    if members:
        audit.extend(apply_member_events(cur, members, known))
    write_audit(cur, audit)
    return len(accepted)


def event_type_of(schema_name: str) -> str:
    """The event type without its namespace (`registry.events.MemberApplied` ->
    `MemberApplied`)."""
    return schema_name.rsplit(".", 1)[-1]


def is_organisation_event(event_type: str) -> bool:
    return event_type.startswith("Organisation")


def apply_organisation_events(
    cur: Cursor, accepted: Sequence[Candidate]
) -> tuple[list[PendingAudit], list[MemberEvent]]:
    """Applies the organisation events among events the gate let through; returns their
    pending audit rows and the member events, in order, for the caller to apply."""
    audit: list[PendingAudit] = []
    members: list[MemberEvent] = []
    for aggregate_id, _, (schema_name, record, position) in accepted:
        event_type = event_type_of(schema_name)
        if not is_organisation_event(event_type):
            members.append((event_type, aggregate_id, record, position))
            continue
        # Organisation events go one at a time: the rollup counters' triggers follow an
        # organisation's re-parenting one statement at a time (rollup_counts.py).
        handler = ORGANISATION_HANDLERS.get(event_type)
        if handler is not None:
            handler(cur, aggregate_id, record)
        audit.append((event_type, aggregate_id, "Organisation", record, position, aggregate_id))
    return audit, members


def write_audit(cur: Cursor, audit: Sequence[PendingAudit]) -> None:
    # Each payload is encoded while the rows before it are being inserted.
    with cur.row_writer("rm_audit", AUDIT_COLUMNS) as write:
        for pending in audit:
            write(audit_row(*pending))
