"""The rollup counters (projections/rollup_counts.py, PostgreSQL) give exactly what the
rollup computed from the member rows gives, after any sequence of changes: members
added, moved, promoted, exited, deleted; organisations re-parented or established after
their members; ages on the days a birth year straddles a band boundary."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import citygen
from projections import queries, rollup_counts
from projections.apply import apply_events
from projections.database import Database
from projections.tables import create_tables, drop_tables
from registry.config import Settings
from schemas.catalog import load_catalog
from tests.conftest import DATABASE_URL
from tests.unit.projection_events import Feed, oid

# Days whose straddling birth years the members below are born in or around.
DAYS = (date(2026, 3, 1), date(2024, 2, 29), date(2026, 2, 28), date(2026, 12, 31),
        date(2026, 1, 1), date(2026, 6, 15))  # fmt: skip
UPPERS = tuple(upper for upper, _ in queries.AGE_BANDS)


@pytest.fixture(name="pg")
def pg_fixture(pg_schema: str, tmp_path: Path) -> Iterator[Database]:
    url = f"{DATABASE_URL}{'&' if '?' in DATABASE_URL else '?'}schema={pg_schema}"
    database = Database(Settings(data_dir=tmp_path / "data", database_url=url))
    create_tables(database)
    yield database
    database.close()


def _by_rows(db: Database, root_id: str, day: date) -> dict[str, dict[str, int]]:
    base, params = queries._base(db, root_id, None)
    return queries._counts_in_one_pass(db, base, params, day)


def _nonzero_counters(db: Database) -> list[tuple[Any, ...]]:
    rows = db.query("SELECT organisation_id, dimension, value, n FROM rm_rollup_counts")
    return sorted(r for r in rows if r[3] != 0)


def assert_counters_agree(db: Database, days: tuple[date, ...] = DAYS) -> None:
    """Every organisation's counters against its member rows, on every day; and the
    counters as kept equal the counters counted afresh."""
    for (organisation_id,) in db.query("SELECT id FROM rm_organisations ORDER BY id"):
        for day in days:
            counted = queries.counted_breakdowns(db, organisation_id, day)
            assert counted == _by_rows(db, organisation_id, day), (organisation_id, day)
    kept = _nonzero_counters(db)
    assert all(r[3] > 0 for r in kept), "a counter went below zero"
    with db.transaction() as cur:
        rollup_counts.recount(cur)
    assert _nonzero_counters(db) == kept


def test_straddling_years_are_those_with_a_band_boundary_inside() -> None:
    for day in DAYS:
        straddling = rollup_counts.straddling_years(day, UPPERS)
        for year in range(day.year - 100, day.year):
            ages = {day.year - year, day.year - year - 1}  # birthday passed or not
            bands = {queries._age_band(age) for age in ages}
            assert (len(bands) == 2) == (year in straddling), (day, year)


# -- random changes, straight on the tables ------------------------------------

DISTRICTS = ("D1", "D2", "D3")
STREETS = {"S1": "D1", "S2": "D1", "S3": "D2", "S4": "D3"}
BRANCHES = {"B1": "S1", "B2": "S1", "B3": "S2", "B4": "S3", "B5": "S4", "B6": "S4"}
LATE = "B7"  # members are put in it before it is established under S2
ORGS = (*DISTRICTS, *STREETS, *BRANCHES, LATE)


def _birth_dates() -> st.SearchStrategy[str]:
    """Around the band boundaries of the days in DAYS: straddling years, the years next
    to them, and birthdays on, before and after the days' month-days (02-29 included)."""
    years = sorted({d.year - u - k for d in DAYS for u in UPPERS for k in (0, 1, 2)})
    month_days = ("01-01", "02-28", "02-29", "03-01", "06-14", "06-15", "06-16", "12-31")

    def valid(year: int, month_day: str) -> str:
        if month_day == "02-29" and not (year % 4 == 0 and (year % 100 or year % 400 == 0)):
            month_day = "02-28"
        return f"{year:04d}-{month_day}"

    return st.builds(valid, st.sampled_from(years), st.sampled_from(month_days))


_member = st.fixed_dictionaries({
    "organisation": st.sampled_from(ORGS),
    "status": st.sampled_from(("ACTIVE", "ACTIVE", "ACTIVE", "EXITED")),
    "stage": st.sampled_from(queries.STAGES),
    "sex": st.sampled_from(("MALE", "FEMALE")),
    "birth_date": _birth_dates(),
    "ethnicity": st.sampled_from(("汉族", "回族", "满族")),
    "education": st.sampled_from(("本科", "硕士")),
    "occupation": st.sampled_from(("教师", "工人", "医生")),
    "admitted_on": st.one_of(st.none(), st.sampled_from(("2001-07-01", "2019-12-31"))),
})  # fmt: skip

_column_change = st.one_of(
    st.tuples(st.just("organisation_id"), st.sampled_from(ORGS).map(lambda o: str(oid(o)))),
    st.tuples(st.just("status"), st.sampled_from(("ACTIVE", "EXITED"))),
    st.tuples(st.just("stage"), st.sampled_from(queries.STAGES)),
    st.tuples(st.just("birth_date"), _birth_dates()),
    st.tuples(st.just("admitted_on"), st.one_of(st.none(), st.just("2010-05-05"))),
    st.tuples(st.just("sex"), st.sampled_from(("MALE", "FEMALE"))),
    st.tuples(st.just("standing"), st.sampled_from(("NORMAL", "PROBATION"))),  # not counted
)

_change = st.one_of(
    st.tuples(st.just("add"), _member),
    st.tuples(st.just("update"), st.integers(0, 40), st.lists(_column_change, min_size=1,
                                                             max_size=3)),
    # One statement over many rows: the transition tables hold all of them.
    st.tuples(st.just("update_all"), st.sampled_from(ORGS), _column_change),
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("move_street"), st.sampled_from(tuple(STREETS)),
              st.sampled_from(DISTRICTS)),
    st.tuples(st.just("move_branch"), st.sampled_from((*BRANCHES, LATE)),
              st.sampled_from(tuple(STREETS))),
    st.tuples(st.just("establish_late"),),
)  # fmt: skip


def _establish(cur: Any, code: str, parent: str | None) -> None:
    cur.execute(
        "INSERT INTO rm_organisations (id, code, name, kind, level, parent_id, established_on)"
        " VALUES (?, ?, ?, 'COMMITTEE', 'STREET', ?, '2020-01-01') ON CONFLICT DO NOTHING",
        (str(oid(code)), code, code, str(oid(parent)) if parent else None),
    )


def _apply(cur: Any, change: tuple[Any, ...], members: list[str]) -> None:
    kind = change[0]
    if kind == "add":
        m = change[1]
        member_id = str(uuid.uuid4())
        cur.execute(
            "INSERT INTO rm_members (id, name, sex, birth_date, ethnicity, education,"
            " occupation, organisation_id, stage, stage_since, applied_on, status,"
            " admitted_on) VALUES (?, 'x', ?, ?, ?, ?, ?, ?, ?, '2020-01-01', '2020-01-01',"
            " ?, ?)",
            (member_id, m["sex"], m["birth_date"], m["ethnicity"], m["education"],
             m["occupation"], str(oid(m["organisation"])), m["stage"], m["status"],
             m["admitted_on"]),
        )  # fmt: skip
        members.append(member_id)
    elif kind == "update" and members:
        member_id = members[change[1] % len(members)]
        sets = dict(change[2])
        assignments = ", ".join(f"{column} = ?" for column in sets)
        cur.execute(f"UPDATE rm_members SET {assignments} WHERE id = ?",
                    (*sets.values(), member_id))  # fmt: skip
    elif kind == "update_all":
        column, value = change[2]
        cur.execute(f"UPDATE rm_members SET {column} = ? WHERE organisation_id = ?",
                    (value, str(oid(change[1]))))  # fmt: skip
    elif kind == "delete" and members:
        cur.execute("DELETE FROM rm_members WHERE id = ?",
                    (members.pop(change[1] % len(members)),))  # fmt: skip
    elif kind in ("move_street", "move_branch"):
        cur.execute("UPDATE rm_organisations SET parent_id = ? WHERE id = ?",
                    (str(oid(change[2])), str(oid(change[1]))))  # fmt: skip
    elif kind == "establish_late":
        _establish(cur, LATE, "S2")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=st.lists(_change, min_size=1, max_size=30),
       per_transaction=st.integers(1, 5))  # fmt: skip
def test_counters_equal_the_rows_after_random_changes(
    pg: Database, changes: list[tuple[Any, ...]], per_transaction: int
) -> None:
    with pg.transaction() as cur:
        cur.execute("DELETE FROM rm_members")
        cur.execute("DELETE FROM rm_organisations")
    # Deleting every row through the triggers brought every counter back to zero.
    assert _nonzero_counters(pg) == []
    with pg.transaction() as cur:
        cur.execute("DELETE FROM rm_rollup_counts")
        _establish(cur, "CITY", None)
        for district in DISTRICTS:
            _establish(cur, district, "CITY")
        for street, district in STREETS.items():
            _establish(cur, street, district)
        for branch, street in BRANCHES.items():
            _establish(cur, branch, street)
    members: list[str] = []
    for start in range(0, len(changes), per_transaction):
        with pg.transaction() as cur:
            for change in changes[start : start + per_transaction]:
                _apply(cur, change, members)
    assert_counters_agree(pg)


def test_truncate_counts_again(pg: Database) -> None:
    feed = Feed(pg)
    feed.city()
    feed.full_member("甲", "XH-S1-C1")
    with pg.transaction() as cur:
        cur.execute("TRUNCATE rm_organisations")
    assert_counters_agree(pg)
    feed.city()  # versions moved on: establish again by hand
    with pg.transaction() as cur:
        for code, parent in (("SH", None), ("XH", "SH"), ("XH-S1", "XH"),
                             ("XH-S1-C1", "XH-S1")):  # fmt: skip
            _establish(cur, code, parent)
    assert_counters_agree(pg)
    assert queries.rollup(pg, "SH")["party_members"] == 1
    with pg.transaction() as cur:
        cur.execute("TRUNCATE rm_members")
    assert _nonzero_counters(pg) == []


# -- through the projector's own code -------------------------------------------


def test_counters_follow_the_projected_events(pg: Database) -> None:
    """Stage changes, transfers (counted at the sender until accepted), exits, a new
    application, re-parenting of a street and a branch projected before its street."""
    feed = Feed(pg)
    feed.city()
    born_on_boundary = date(2026 - 31, 3, 1)  # 30 or 31 on 2026-03-01: two bands
    a = feed.full_member("甲", "XH-S1-C1", birth=born_on_boundary)
    b = feed.full_member("乙", "XH-S1-C2", sex="FEMALE", birth=date(1960, 2, 29))
    c = feed.applicant("丙", "PD-S1-C1")
    feed.apply("MemberActivistAdmitted", c, date(2021, 6, 1), decided_by=oid("PD-S1-C1"))
    assert_counters_agree(pg)

    feed.apply("MemberTransferStarted", a, date(2025, 1, 1), letter_number="L1",
               from_organisation_id=oid("XH-S1-C1"), to_organisation_id=oid("PD-S1-C2"),
               valid_until=date(2025, 3, 1))  # fmt: skip
    assert_counters_agree(pg)  # in transit: still counted at the sender
    feed.apply("MemberTransferAccepted", a, date(2025, 1, 10), letter_number="L1",
               from_organisation_id=oid("XH-S1-C1"),
               to_organisation_id=oid("PD-S1-C2"))  # fmt: skip
    assert queries.rollup(pg, "PD")["party_members"] == 1
    assert_counters_agree(pg)

    feed.apply("MemberWithdrawn", b, date(2025, 5, 1), reason=None)
    assert_counters_agree(pg)

    # A branch whose street arrives later: its members already count at it.
    feed.establish("XH-S2-C1", "COMMUNITY", "XH-S2")
    feed.full_member("丁", "XH-S2-C1", approver="XH-S2")
    assert_counters_agree(pg)
    feed.establish("XH-S2", "STREET", "XH", "COMMITTEE")
    assert queries.rollup(pg, "XH")["total"] == 1 + 0  # 丁 only: 甲 moved, 乙 exited
    assert_counters_agree(pg)

    feed.apply("OrganisationReparented", oid("XH-S2"), date(2025, 6, 1),
               from_parent_id=oid("XH"), parent_id=oid("PD"))  # fmt: skip
    assert queries.rollup(pg, "XH")["total"] == 0
    assert queries.rollup(pg, "PD")["total"] == 3
    assert_counters_agree(pg)


def test_rebuilt_generations_have_their_own_counters(pg: Database) -> None:
    feed = Feed(pg)
    feed.city()
    feed.full_member("甲", "XH-S1-C1")
    create_tables(pg, 3)
    # Generation 3 starts empty; its triggers write its own counters only.
    assert pg.query("SELECT count(*) FROM rm_rollup_counts", generation=3) == [(0,)]
    live = _nonzero_counters(pg)
    with pg.transaction(generation=3) as cur:
        _establish(cur, "SH", None)
        _establish(cur, "XH", "SH")
    assert pg.query("SELECT count(*) FROM rm_rollup_counts", generation=3) == [(0,)]
    assert _nonzero_counters(pg) == live
    drop_tables(pg, 3)
    assert pg.query(
        "SELECT count(*) FROM pg_proc WHERE proname LIKE ?", ("g3\\_rm\\_rollup%",)
    ) == [(0,)]
    assert_counters_agree(pg)  # the live generation was left alone


def test_counters_of_a_read_model_made_before_them(pg: Database) -> None:
    """Installing on tables that already hold members counts them first."""
    feed = Feed(pg)
    feed.city()
    feed.full_member("甲", "XH-S1-C1")
    with pg.transaction() as cur:
        rollup_counts.drop(cur)  # as if made by an older version: no triggers
        cur.execute("DELETE FROM rm_rollup_counts")
    feed.full_member("乙", "XH-S1-C2")
    create_tables(pg)
    assert_counters_agree(pg)
    assert queries.rollup(pg, "SH")["party_members"] == 2


def test_days_around_every_boundary(pg: Database) -> None:
    """Members born on each side of every band boundary, rolled up on the days around
    their birthdays, including leap days."""
    feed = Feed(pg)
    feed.city()
    day = date(2026, 3, 1)
    n = 0
    for upper in UPPERS:
        for year in (day.year - upper - 1, day.year - upper):
            for month_day in ((2, 28), (3, 1), (3, 2), (12, 31), (1, 1)):
                n += 1
                feed.full_member(f"m{n}", "XH-S1-C1", birth=date(year, *month_day))
    days = (*(day + timedelta(days=k) for k in range(-3, 3)), date(2028, 2, 29))
    assert_counters_agree(pg, days)


def test_a_fold_waits_for_a_concurrent_move(pg: Database, pg_schema: str, tmp_path: Path) -> None:
    """A transaction that adds a member under a street being moved by another (not yet
    committed) transaction folds on the moved tree, not the one it saw first."""
    feed = Feed(pg)
    feed.city()
    url = f"{DATABASE_URL}{'&' if '?' in DATABASE_URL else '?'}schema={pg_schema}"
    other = Database(Settings(data_dir=tmp_path / "other", database_url=url))
    added = threading.Event()
    try:
        with pg.transaction() as cur:
            cur.execute(
                "UPDATE rm_organisations SET parent_id = ? WHERE id = ?",
                (str(oid("PD")), str(oid("XH-S1"))),
            )

            def add_member() -> None:
                with other.transaction() as theirs:
                    _apply(theirs, ("add", {"organisation": "XH-S1-C1", "status": "ACTIVE",
                                            "stage": "FULL", "sex": "MALE",
                                            "birth_date": "1990-01-01", "ethnicity": "汉族",
                                            "education": "本科", "occupation": "教师",
                                            "admitted_on": None}), [])  # fmt: skip
                    # Its commit folds: that waits for the move to commit.
                added.set()

            thread = threading.Thread(target=add_member)
            thread.start()
            assert not added.wait(1.0), "the fold did not wait for the move"
        thread.join(10)
        assert added.is_set()
    finally:
        other.close()
    assert queries.rollup(pg, "PD")["party_members"] == 1
    assert queries.rollup(pg, "XH")["total"] == 0
    assert_counters_agree(pg)


def test_counters_follow_batches_of_a_generated_city(pg: Database) -> None:
    """The projector's batch path (COPY of new members, one UPDATE for many) on the bench
    city's events: applications, every stage, transfers, exits and new applications over
    the years, in batches of mixed events, with the ages checked on boundary days."""
    shape = citygen.CityShape(members=300, districts=2, streets_per_district=2,
                              communities_per_street=2, units_per_street=1)  # fmt: skip
    catalog = load_catalog()
    batch: list[tuple[str, Any, int]] = []

    def flush() -> None:
        with pg.transaction() as cur:
            apply_events(cur, batch)
        batch.clear()

    for (name, record), position in citygen.events(shape, 11):
        schema_name, decoded = catalog.decode(catalog.encode(f"registry.events.{name}", record))
        batch.append((schema_name, decoded, position))
        if len(batch) == 250:
            flush()
    flush()
    assert queries.rollup(pg, citygen.CITY)["party_members"] > 100
    assert_counters_agree(pg, (date.today(), *DAYS[:2]))
