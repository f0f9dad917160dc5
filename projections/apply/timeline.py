"""A member's history rows folded into intervals, for "as of" and "where was M on D".

Refolded from all of the member's history rows after a batch of their events (see
member_batch.py): the rows are few per member, and a late-arriving change (an earlier
effective date recorded later) then lands in its place without any special case.
"""

from __future__ import annotations

from typing import Any

from projections.tables import OPEN_END

# History attribute → timeline column.
COLUMNS = {
    "organisation": "organisation_id",
    "stage": "stage",
    "standing": "standing",
    "status": "status",
    "episode": "episode",
    "in_transit_to": "in_transit_to",
    "placement": "placement_organisation_id",
    "community": "community_id",
}


# Attribute → its place in a timeline row's values (COLUMNS order).
_PLACE = {attribute: i for i, attribute in enumerate(COLUMNS)}
_EPISODE = _PLACE["episode"]
# What an episode row implies: a member (re)applies in good standing, active, in no
# transfer, placement or community. An application's history is then its organisation,
# stage and episode (3 rows, not 8: the history rows were the largest part of the
# projector's work in the database). Histories written before, which spell these values
# out beside the episode row, fold to the same timeline.
EPISODE_START = {"standing": "NORMAL", "status": "ACTIVE", "in_transit_to": None,
                 "placement": None, "community": None}  # fmt: skip
_EPISODE_RESETS = tuple((_PLACE[a], v) for a, v in EPISODE_START.items())


def timeline_rows(member_id: str, rows: list[tuple[str, str, Any]]) -> list[tuple[Any, ...]]:
    """rm_member_timeline rows from a member's history rows (attribute, effective date,
    value), given in effective-date then version order."""
    # Runs for every member of every batch: the state is a list, each span's values a
    # tuple (cheap to copy and compare), rather than a dict per row.
    state: list[Any] = [None] * len(COLUMNS)
    spans: list[tuple[str, tuple[Any, ...]]] = []
    for attribute, effective_date, value in rows:
        place = _PLACE.get(attribute)
        if place is None:
            continue
        if place == _EPISODE:
            for reset, start_value in _EPISODE_RESETS:
                state[reset] = start_value
            state[place] = None if value is None else int(value)
        else:
            state[place] = value
        values = tuple(state)
        if spans and spans[-1][0] == effective_date:
            spans[-1] = (effective_date, values)
        elif not spans or spans[-1][1] != values:
            spans.append((effective_date, values))
    # Same-day changes collapse into one span; equal neighbours merge.
    merged: list[tuple[str, tuple[Any, ...]]] = []
    for start, values in spans:
        if merged and merged[-1][1] == values:
            continue
        merged.append((start, values))
    ends = [start for start, _ in merged[1:]] + [OPEN_END]
    return [
        (member_id, start, end, *values)
        for (start, values), end in zip(merged, ends, strict=True)
    ]
