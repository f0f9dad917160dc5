"""A rebuild's loading worker applies member events with its members held in memory.

In the order a registry's topics hold events (the order the store recorded them), a
member's few events lie months or years apart, so nearly every batch of a load meets its
members again: the live apply (member_batch.py) reads their row, history and timeline
back, refolds and rewrites them. That was most of a city's rebuild: 651 s in recorded
order against 282 s for the same 5,016,146 events published member by member.

A loading worker owns its partitions, hence its members, alone and from their first
event (a member's events all lie in one partition of the member topic), so it keeps each
member's row, version and timeline history in memory instead. Per batch it writes only
what is appended (history, movements, the rare facts, the audit trail), and rm_members,
the members' rm_versions and rm_member_timeline once, at the end of its load (`write`),
from the same handlers and the same timeline fold as the live apply.

A batch's changes reach memory only when its transaction has committed (`committed`):
a batch rolled back and applied again must meet the members as the database has them.
A worker killed mid-load loses its memory, and nothing needs it: a rebuild run again
starts its generation afresh (projections/rebuild.py).

Memory grows with the worker's members: their rows and the history a timeline is folded
from, about 1 KB a member (bench/city_rebuild.py prints each worker's peak resident
memory).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from projections.apply import (
    Event,
    apply_organisation_events,
    event_type_of,
    is_organisation_event,
    write_audit,
)
from projections.apply.member_batch import (
    TIMELINE_TABLE_COLUMNS,
    MemberEvent,
    fold,
    member_row,
    member_timeline,
    write_movements,
)
from projections.apply.members import MEMBER_COLUMNS, MemberState
from projections.apply.timeline import COLUMNS as TIMELINE_ATTRIBUTES
from projections.apply.versions import Candidate, claim
from projections.database import Cursor

# A member as held: the rm_members row as a tuple in table order (None: no row), the
# version applied, and the history their timeline is folded from, flat: (version,
# attribute, effective date, value) after one another. Held for every member of a city,
# so kept small: a tuple per history row and a string per date or id made it 2.9 KB a
# member (tracemalloc, 20,000 members).
_Held = tuple[tuple[Any, ...] | None, int, tuple[Any, ...]]
_HISTORY_WIDTH = 4
# The row's values from here on are shared (dates, organisation ids, the vocabulary's
# words; also the few transfer letters); before it, the member's own (id, name).
_SHARED_FROM = MEMBER_COLUMNS.index("sex")


class LoadingMembers:
    """One loading worker's members, from the first batch of its load to `write`."""

    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}
        self._pending: dict[str, _Held] = {}
        # One string object per distinct date, id or word held (a decoded record makes
        # its own): a few tens of thousands for a city.
        self._strings: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._held)

    def apply_events(self, cur: Cursor, events: Sequence[Event]) -> int:
        """apply_events (projections/apply) for a loading worker: organisation events as
        the live apply does them, member events against the members in memory. Returns
        how many were applied."""
        self._pending = {}
        organisations: list[Candidate] = []
        members: list[Candidate] = []
        for name, record, position in events:
            aggregate_id, version = str(record["aggregate_id"]), int(record["version"])
            event_type = event_type_of(name)
            if is_organisation_event(event_type):
                organisations.append((aggregate_id, version, (name, record, position)))
            else:
                members.append((aggregate_id, version, (event_type, record, position)))
        accepted, _ = claim(cur, organisations) if organisations else ([], set())
        audit, _ = apply_organisation_events(cur, accepted)
        member_events, versions = self._gate(members)
        if member_events:
            audit.extend(self._fold(cur, member_events, versions))
        write_audit(cur, audit)
        return len(accepted) + len(member_events)

    def committed(self) -> None:
        """The last apply_events' transaction has committed: its changes are held."""
        self._held.update(self._pending)
        self._pending = {}

    def _gate(self, candidates: Sequence[Candidate]) -> tuple[list[MemberEvent], dict[str, int]]:
        """The version gate of versions.py, against the versions in memory: the events
        let through, and each of their members' version after them."""
        versions: dict[str, int] = {}
        accepted: list[MemberEvent] = []
        for member_id, version, (event_type, record, position) in candidates:
            current = versions.get(member_id)
            if current is None:
                held = self._held.get(member_id)
                current = held[1] if held is not None else 0
            if version == current + 1:
                versions[member_id] = version
                accepted.append((event_type, member_id, record, position))
        return accepted, versions

    def _fold(
        self, cur: Cursor, events: Sequence[MemberEvent], versions: dict[str, int]
    ) -> list[Any]:
        states: dict[str, MemberState] = {}
        for _, member_id, _, _ in events:
            if member_id not in states:
                held = self._held.get(member_id)
                row = held[0] if held is not None else None
                states[member_id] = MemberState.loaded(
                    member_id, dict(zip(MEMBER_COLUMNS, row, strict=True)) if row else None
                )
        audit = fold(cur, events, states)
        write_movements(cur, states.values())
        shared = self._strings.setdefault
        for member_id, state in states.items():
            held = self._held.get(member_id)
            added = [
                value
                for _, version, attribute, effective, change in state.history
                if attribute in TIMELINE_ATTRIBUTES
                for value in (version, attribute, shared(effective, effective),
                              change if change is None else shared(change, change))
            ]  # fmt: skip
            # A new tuple: a rolled-back batch must leave the held one as it was.
            history = held[2] + tuple(added) if held is not None else tuple(added)
            row = None
            if state.row:
                values = member_row(state.row)
                shared_values = values[_SHARED_FROM:]
                row = (*values[:_SHARED_FROM], *map(shared, shared_values, shared_values))
            self._pending[member_id] = (row, versions[member_id], history)
        return audit

    def write(self, cur: Cursor) -> None:
        """Writes the members' rows, versions and timelines (in member-id order: index
        pages filled one after the other), emptying the memory as it goes."""
        self._pending = {}
        ids = sorted(self._held)
        with cur.row_writer("rm_members", MEMBER_COLUMNS) as write:
            for member_id in ids:
                row = self._held[member_id][0]
                if row is not None:
                    write(row)
        with cur.row_writer("rm_versions", ("aggregate_id", "version")) as write:
            for member_id in ids:
                write((member_id, self._held[member_id][1]))
        with cur.row_writer("rm_member_timeline", TIMELINE_TABLE_COLUMNS) as write:
            for row in self._timelines(ids):
                write(row)

    def _timelines(self, ids: list[str]) -> Iterator[tuple[Any, ...]]:
        width = _HISTORY_WIDTH
        for member_id in ids:
            _, _, flat = self._held.pop(member_id)
            if flat:
                rows = [(member_id, *flat[i : i + width]) for i in range(0, len(flat), width)]
                yield from member_timeline(member_id, rows)
