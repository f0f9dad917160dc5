"""Applying one published event to the read models, exactly once.

Input is what a downstream system sees: the schema name and the decoded Avro record.
Every event in schemas/events is handled (members.py, organisations.py); events that
change no read model beyond the audit trail are listed there too, so a new event type
without a decision fails the completeness test instead of passing silently.
"""

from __future__ import annotations

import json
import logging

from projections.apply.common import Record, plain
from projections.apply.members import MEMBER_HANDLERS
from projections.apply.organisations import ORGANISATION_HANDLERS
from projections.database import Cursor

log = logging.getLogger(__name__)

HANDLERS = {**MEMBER_HANDLERS, **ORGANISATION_HANDLERS}
# Published on other topics, never projected here.
NOT_PROJECTED = frozenset({"ChangeOutcome", "DeadLetter"})

__all__ = ["HANDLERS", "NOT_PROJECTED", "Record", "apply_event"]


def apply_event(cur: Cursor, schema_name: str, record: Record, position: int | None) -> bool:
    """Returns False for an event already applied (same aggregate id, same or lower version)
    or one whose previous version has not been applied (see below).

    The version check is an upsert that only raises the stored version, so two
    projectors racing on one partition during a rebalance cannot both apply an event:
    the second waits for the first's row lock and then finds nothing to raise.
    """
    aggregate_id = str(record["aggregate_id"])
    version = int(record["version"])
    cur.execute("SELECT version FROM rm_versions WHERE aggregate_id = ?", (aggregate_id,))
    row = cur.fetchone()
    applied = row[0] if row else 0
    if version <= applied:
        return False
    if version > applied + 1:
        # Only a relay epoch can do this (records published to a broker that had just
        # lost its topics, ahead of the full re-publication): the missing versions come
        # with the new epoch, in order, so this one waits for them.
        log.warning("%s v%d skipped: v%d not applied yet", aggregate_id, version, applied + 1)
        return False
    cur.execute(
        "INSERT INTO rm_versions (aggregate_id, version) VALUES (?, ?)"
        " ON CONFLICT (aggregate_id) DO UPDATE SET version = excluded.version"
        " WHERE rm_versions.version = excluded.version - 1 RETURNING version",
        (aggregate_id, version),
    )
    if cur.fetchone() is None:
        return False
    short_name = schema_name.rsplit(".", 1)[-1]
    handler = HANDLERS.get(short_name)
    if handler is not None:
        handler(cur, aggregate_id, record)
    is_organisation = short_name.startswith("Organisation")
    if is_organisation:
        organisation_id: str | None = aggregate_id
    else:
        cur.execute("SELECT organisation_id FROM rm_members WHERE id = ?", (aggregate_id,))
        row = cur.fetchone()
        organisation_id = row[0] if row else None
    cur.execute(
        "INSERT INTO rm_audit (aggregate_id, version, aggregate_kind, event_type, effective_date,"
        " recorded_at, request_id, source_system, store_position, payload, organisation_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            aggregate_id,
            version,
            "Organisation" if is_organisation else "Member",
            short_name,
            record["effective_date"].isoformat(),
            record["recorded_at"].isoformat(),
            record.get("request_id"),
            record.get("source_system"),
            position,
            json.dumps(plain(record), ensure_ascii=False, sort_keys=True),
            organisation_id,
        ),
    )
    return True
