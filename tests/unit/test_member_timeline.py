"""A member's timeline from their history rows: an episode row stands for the rest of
the episode's start (good standing, active, no transfer, placement or community), so
an application writes 3 history rows instead of 8 and folds to the same intervals as
the rows spelled out, as histories written before this change hold them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from bench import citygen
from projections.apply import apply_events
from projections.apply.member_batch import member_timeline
from projections.apply.timeline import EPISODE_START
from projections.database import Database
from projections.tables import create_tables
from registry.config import Settings
from schemas.catalog import load_catalog

SHAPE = citygen.CityShape(members=150, districts=1, streets_per_district=2,
                          communities_per_street=2, units_per_street=1)


@pytest.fixture(scope="module")
def histories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Any, ...]]]:
    """Each member's history rows as the projector writes them, for a small city's
    events decoded as the projector receives them (SQLite)."""
    catalog = load_catalog()
    db = Database(Settings(data_dir=tmp_path_factory.mktemp("timeline")))
    try:
        create_tables(db)
        with db.transaction() as cur:
            for (name, record), position in citygen.events(SHAPE, 3):
                decoded = catalog.decode(catalog.encode(f"registry.events.{name}", record))
                apply_events(cur, [(*decoded, position)])
        rows = db.query("SELECT member_id, version, attribute, effective_date, value"
                        " FROM rm_member_history ORDER BY member_id, version")  # fmt: skip
    finally:
        db.close()
    by_member: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_member[row[0]].append(tuple(row))
    return by_member


def _spelled_out(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The same history as written before: every episode row followed by the values it
    now stands for, at its version and date."""
    out = []
    for member_id, version, attribute, effective, value in rows:
        out.append((member_id, version, attribute, effective, value))
        if attribute == "episode":
            out.extend((member_id, version, a, effective, v) for a, v in EPISODE_START.items())
    return out


def test_an_application_writes_organisation_stage_and_episode_only(
    histories: dict[str, list[tuple[Any, ...]]],
) -> None:
    for member_id, rows in histories.items():
        applied = sorted(r[2] for r in rows if r[1] == 1)
        assert applied == ["episode", "organisation", "stage"], member_id


def test_compact_and_spelled_out_histories_fold_to_the_same_timeline(
    histories: dict[str, list[tuple[Any, ...]]],
) -> None:
    reapplied = [m for m, rows in histories.items()
                 if sum(r[2] == "episode" for r in rows) > 1]  # fmt: skip
    assert reapplied, "the sample city must hold members who applied again"
    for member_id, rows in histories.items():
        compact = member_timeline(member_id, rows)
        assert compact == member_timeline(member_id, _spelled_out(rows)), member_id
        # Each interval says what the member's standing and status were.
        assert all(row[4] is not None and row[5] is not None for row in compact), compact


def test_an_episode_clears_what_the_one_before_left() -> None:
    member = "m"
    rows = [
        (member, 1, "organisation", "2020-01-01", "o1"),
        (member, 1, "stage", "2020-01-01", "APPLICANT"),
        (member, 1, "episode", "2020-01-01", "1"),
        (member, 2, "placement", "2020-02-01", "p1"),
        (member, 3, "standing", "2020-03-01", "SUSPENDED"),
        (member, 4, "status", "2020-04-01", "WITHDRAWN"),
        (member, 5, "organisation", "2021-01-01", "o2"),
        (member, 5, "stage", "2021-01-01", "APPLICANT"),
        (member, 5, "episode", "2021-01-01", "2"),
    ]
    last = member_timeline(member, rows)[-1]
    # member, from, to, organisation, stage, standing, status, episode, transit, placement,
    # community
    assert last[1:] == ("2021-01-01", last[2], "o2", "APPLICANT", "NORMAL", "ACTIVE", 2,
                        None, None, None)  # fmt: skip
