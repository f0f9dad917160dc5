"""A batch of member events applied with a handful of set-based statements.

The members' rm_members rows are read once, the events folded into them in memory, in
order (members.py), and what came out is written per table in one statement each: new
rows by COPY, changed rows by one UPDATE, history, movements and timelines by COPY. A
statement per event was the projector's main cost (each one a psycopg call and a
server round of parsing, locking and index work).

Timelines are refolded from all of a member's history rows, those stored and the
batch's. A member with no stored version has no stored rows of any table (all of them
are written in the transaction that stores the version), so their rows are not read.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from operator import itemgetter
from typing import Any

from projections.apply.audit import PendingAudit
from projections.apply.bulk import delete_pairs, select_in, update_rows
from projections.apply.common import Record
from projections.apply.members import MEMBER_COLUMNS, MEMBER_HANDLERS, MemberState
from projections.apply.timeline import COLUMNS as TIMELINE_COLUMNS
from projections.apply.timeline import timeline_rows
from projections.database import Cursor

# (event type without namespace, member id, decoded record, store position)
MemberEvent = tuple[str, str, Record, int | None]

HISTORY_COLUMNS = ("member_id", "version", "attribute", "effective_date", "value")
MOVEMENT_COLUMNS = ("member_id", "version", "kind", "effective_date", "organisation_id",
                    "other_organisation_id", "detail", "stage")  # fmt: skip
TIMELINE_TABLE_COLUMNS = ("member_id", "valid_from", "valid_to", *TIMELINE_COLUMNS.values())
_UPDATED_COLUMNS = MEMBER_COLUMNS[1:]
_NOT_TEXT = {"episode": "integer"}
# An rm_members row (dict) as a tuple in table order.
member_row = itemgetter(*MEMBER_COLUMNS)
# History rows (member, version, attribute, effective date, value) in timeline order.
_effective_then_version = itemgetter(3, 1)


def apply_member_events(
    cur: Cursor, events: Sequence[MemberEvent], known: Collection[str]
) -> list[PendingAudit]:
    """Applies events already let through by the version gate, in order; `known`: the
    aggregates that had a stored version before. Returns what their rm_audit rows need
    (audit.audit_row), to be written with the batch's other events."""
    ids = list(dict.fromkeys(member_id for _, member_id, _, _ in events))
    stored = _rows(cur, [m for m in ids if m in known])
    states = {m: MemberState.loaded(m, stored.get(m)) for m in ids}
    audit = fold(cur, events, states)
    _write_members(cur, states.values())
    write_movements(cur, states.values())
    _write_timelines(cur, states, known)
    return audit


def fold(
    cur: Cursor, events: Sequence[MemberEvent], states: dict[str, MemberState]
) -> list[PendingAudit]:
    """Runs the events' handlers, in order, on their members' states, writing the
    history rows they make and then the rare facts' statements (in event order); returns
    the events' pending audit rows."""
    audit: list[PendingAudit] = []
    statements: list[tuple[str, tuple[Any, ...]]] = []
    # The fold runs while its history rows stream to the server (row_writer).
    with cur.row_writer("rm_member_history", HISTORY_COLUMNS) as write_history:
        for event_type, member_id, record, position in events:
            state = states[member_id]
            handler = MEMBER_HANDLERS.get(event_type)
            if handler is not None:
                mark = len(state.history)
                handler(state, record)
                for row in state.history[mark:]:
                    write_history(row)
                if state.statements:
                    statements.extend(state.statements)
                    state.statements.clear()
            audit.append((event_type, member_id, "Member", record, position,
                          state.organisation()))  # fmt: skip
    for sql, params in statements:
        cur.execute(sql, params)
    return audit


def write_movements(cur: Cursor, states: Collection[MemberState]) -> None:
    cur.insert_rows("rm_movements", MOVEMENT_COLUMNS, [row for s in states for row in s.movements])


def _rows(cur: Cursor, ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = select_in(cur, f"SELECT {', '.join(MEMBER_COLUMNS)} FROM rm_members WHERE id {{in_}}",
                     ids)  # fmt: skip
    return {row[0]: dict(zip(MEMBER_COLUMNS, row, strict=True)) for row in rows}


def _write_members(cur: Cursor, states: Collection[MemberState]) -> None:
    cur.insert_rows(
        "rm_members",
        MEMBER_COLUMNS,
        [member_row(s.row) for s in states if s.row and not s.existed],
    )
    update_rows(
        cur,
        "rm_members",
        "id",
        _UPDATED_COLUMNS,
        [s.row for s in states if s.row and s.existed and s.changed],
        casts=_NOT_TEXT,
    )


def _write_timelines(
    cur: Cursor, states: dict[str, MemberState], known: Collection[str]
) -> None:
    """The timelines of the members whose history grew (their rows are in by now)."""
    grown = [s for s in states.values() if s.history]
    # Members with a stored history: refolded from every row, now that the batch's rows
    # are in; new members from the batch's rows alone (they have no stored intervals).
    stored = [s.id for s in grown if s.id in known]
    by_member: dict[str, list[tuple[Any, ...]]] = {m: [] for m in stored}
    for row in select_in(
        cur,
        "SELECT member_id, version, attribute, effective_date, value FROM rm_member_history"
        " WHERE member_id {in_}",
        stored,
    ):
        by_member[row[0]].append(row)
    fresh: list[tuple[Any, ...]] = []
    for s in grown:
        if s.id not in known:
            fresh.extend(member_timeline(s.id, s.history))
    timelines = set()
    for member_id, rows in by_member.items():
        rows.sort(key=_effective_then_version)
        timelines.update(_timeline(member_id, rows))
    # Only the intervals that changed are rewritten (mostly the open one ends and a new
    # one follows): a refold that deleted and inserted every interval of the member was
    # the batch's costliest statement pair.
    before = set(select_in(
        cur, f"SELECT {', '.join(TIMELINE_TABLE_COLUMNS)} FROM rm_member_timeline"
        " WHERE member_id {in_}", stored))  # fmt: skip
    delete_pairs(cur, "rm_member_timeline", ("member_id", "valid_from"),
                 [(row[0], row[1]) for row in before - timelines])  # fmt: skip
    cur.insert_rows("rm_member_timeline", TIMELINE_TABLE_COLUMNS, [*timelines - before, *fresh])


def member_timeline(member_id: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """A member's rm_member_timeline rows from all their history rows (member, version,
    attribute, effective date, value), in any order."""
    return _timeline(member_id, sorted(rows, key=_effective_then_version))


def _timeline(member_id: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Timeline rows from history rows (member, version, attribute, effective, value) in
    timeline order."""
    return timeline_rows(member_id, [(a, e, value) for _, _, a, e, value in rows])
