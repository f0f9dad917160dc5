"""The exactly-once gate: which events of a batch are applied, decided from the versions
stored in rm_versions, and the raised versions written back, set-based.

An event is applied when its version is exactly one above the aggregate's stored (or
already accepted) version: a repeat (same or lower version) is skipped, and so is an
event whose predecessor has not been applied (a gap; it only comes from a relay epoch,
and the missing versions follow in order with the new epoch).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from projections.apply.bulk import insert_keys, select_in, update_values
from projections.database import UNIQUE_VIOLATION, Cursor

log = logging.getLogger(__name__)

# (aggregate id as text, version, anything the caller carries along)
Candidate = tuple[str, int, Any]


class ConcurrentApply(RuntimeError):
    """Another transaction applied a first version of one of this batch's aggregates
    while this one was deciding (a partition briefly held by two projectors during a
    rebalance). Roll back and apply the batch again: it then sees their versions."""


def _stored(cur: Cursor, ids: Sequence[str]) -> dict[str, int]:
    # FOR UPDATE (PostgreSQL) holds the rows until commit, so a second projector on the
    # same partition waits here and then reads what this one raised; key order keeps
    # two of them from locking in opposite orders. SQLite's writer lock does the same.
    lock = " ORDER BY aggregate_id FOR UPDATE" if cur.postgres else ""
    rows = select_in(cur, "SELECT aggregate_id, version FROM rm_versions"
                     " WHERE aggregate_id {in_}" + lock, ids)  # fmt: skip
    return {aggregate_id: int(version) for aggregate_id, version in rows}


def claim(cur: Cursor, candidates: Sequence[Candidate]) -> tuple[list[Candidate], set[str]]:
    """The candidates to apply, in their order, and the ids of the aggregates that had a
    stored version before; their new versions are written before returning."""
    stored = _stored(cur, list(dict.fromkeys(c[0] for c in candidates)))
    current = dict(stored)
    accepted = []
    for candidate in candidates:
        aggregate_id, version, _ = candidate
        if version == current.get(aggregate_id, 0) + 1:
            current[aggregate_id] = version
            accepted.append(candidate)
        else:
            log.debug("%s v%s not applied (repeat or gap)", aggregate_id, version)
    first = [(a, v) for a, v in current.items() if a not in stored]
    try:
        insert_keys(cur, "rm_versions", "aggregate_id", "version", first)
    except UNIQUE_VIOLATION as error:
        # The transaction is spoilt either way: the caller rolls it back and tries again.
        raise ConcurrentApply("another projector applied some of these aggregates first"
                              ) from error  # fmt: skip
    update_values(
        cur,
        "rm_versions",
        "aggregate_id",
        "version",
        [(a, v) for a, v in current.items() if a in stored and stored[a] != v],
    )
    return accepted, set(stored)
