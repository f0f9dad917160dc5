"""Questions about the read models as they are now: organisations, rosters (paged),
rollups by stage, sex, age band, ethnicity, education, occupation and year joined, and
the audit trails of members and organisations (paged, in recorded order)."""

from __future__ import annotations

from datetime import date
from typing import Any

from projections import rollup_counts
from projections.database import Database
from projections.subtree import subtree_ids
from projections.tables import OPEN_END

STAGES = ("APPLICANT", "ACTIVIST", "DEVELOPMENT_TARGET", "PROBATIONARY", "FULL")
MEMBER_STAGES = ("PROBATIONARY", "FULL")
# Upper bounds (inclusive) of the age bands of the statistics, last one open.
AGE_BANDS = ((25, "<=25"), (30, "26-30"), (35, "31-35"), (40, "36-40"), (45, "41-45"),
             (50, "46-50"), (55, "51-55"), (60, "56-60"), (70, "61-70"))  # fmt: skip
OLDEST_BAND = ">70"
MAX_PAGE = 1000

_ORG_KEYS = ("id", "code", "name", "kind", "level", "parent_id", "established_on",
             "registration_number", "supervising_body", "status", "closed_on",
             "merged_into_id")  # fmt: skip
_ROSTER_KEYS = ("member_id", "name", "sex", "birth_date", "stage", "stage_since", "standing",
                "status", "episode", "in_transit_to", "transfer_valid_until",
                "placement_organisation_id", "community_id")  # fmt: skip
_TRAIL_KEYS = ("aggregate_id", "version", "aggregate_kind", "event_type", "effective_date",
               "recorded_at", "source_system", "request_id", "store_position")  # fmt: skip


class UnknownOrganisation(LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"no organisation has code {code!r}")
        self.code = code


class UnknownMember(LookupError):
    def __init__(self, member_id: str) -> None:
        super().__init__(f"no member has id {member_id!r}")
        self.member_id = member_id


class BadCursor(ValueError):
    pass


def organisation(db: Database, code: str) -> dict[str, Any]:
    rows = db.query(f"SELECT {', '.join(_ORG_KEYS)} FROM rm_organisations WHERE code = ?", (code,))
    if not rows:
        raise UnknownOrganisation(code)
    return dict(zip(_ORG_KEYS, rows[0], strict=True))


def children(db: Database, organisation_id: str) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT id, code, name, level, status FROM rm_organisations WHERE parent_id = ?"
        " ORDER BY code",
        (organisation_id,),
    )
    return [dict(zip(("id", "code", "name", "level", "status"), r, strict=True)) for r in rows]


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def roster_page(
    db: Database,
    code: str,
    *,
    limit: int = 100,
    after: str | None = None,
    include_exited: bool = False,
) -> dict[str, Any]:
    """Members whose formal relationship lies with this organisation (in-transit members
    still count at the sender), by name, a page at a time. `after` is the last member id
    of the previous page; `next` is the one to pass for the following page."""
    org = organisation(db, code)
    limit = _limit(limit)
    after_key = ("", "")
    if after:
        rows = db.query("SELECT name, id FROM rm_members WHERE id = ?", (after,))
        after_key = rows[0] if rows else (after, after)
    status = "" if include_exited else " AND status = 'ACTIVE'"
    rows = db.query(
        "SELECT id, name, sex, birth_date, stage, stage_since, standing, status, episode,"
        " transfer_to, transfer_valid_until, placement_organisation_id, community_id"
        f" FROM rm_members WHERE organisation_id = ?{status} AND (name, id) > (?, ?)"
        " ORDER BY name, id LIMIT ?",
        (org["id"], after_key[0], after_key[1], limit + 1),
    )
    items = [dict(zip(_ROSTER_KEYS, r, strict=True)) for r in rows[:limit]]
    more = len(rows) > limit
    return {
        "organisation": org["code"],
        "items": items,
        "next": items[-1]["member_id"] if more and items else None,
    }


def roster(
    db: Database, code: str, *, limit: int = 100, after: str | None = None
) -> list[dict[str, Any]]:
    """One page of the current roster, as a plain list."""
    return roster_page(db, code, limit=limit, after=after)["items"]


def member(db: Database, member_id: str) -> dict[str, Any]:
    rows = db.query(
        "SELECT m.id, m.name, m.sex, m.birth_date, m.ethnicity, m.education, m.occupation,"
        " m.organisation_id, o.code, m.stage, m.stage_since, m.applied_on, m.episode,"
        " m.status, m.exited_on, m.standing, m.standing_since, m.standing_until,"
        " m.admitted_on, m.probation_ends_on, m.full_since, m.transfer_to,"
        " m.transfer_letter, m.transfer_valid_until, m.placement_organisation_id,"
        " m.community_id FROM rm_members m LEFT JOIN rm_organisations o"
        " ON o.id = m.organisation_id WHERE m.id = ?",
        (member_id,),
    )
    if not rows:
        raise UnknownMember(member_id)
    keys = ("member_id", "name", "sex", "birth_date", "ethnicity", "education", "occupation",
            "organisation_id", "organisation_code", "stage", "stage_since", "applied_on",
            "episode", "status", "exited_on", "standing", "standing_since", "standing_until",
            "admitted_on", "probation_ends_on", "full_since", "in_transit_to",
            "transfer_letter", "transfer_valid_until", "placement_organisation_id",
            "community_id")  # fmt: skip
    result = dict(zip(keys, rows[0], strict=True))
    result["circumstances"] = {
        c: since
        for c, since in db.query(
            "SELECT circumstance, since FROM rm_member_circumstances WHERE member_id = ?"
            " ORDER BY circumstance",
            (member_id,),
        )
    }
    return result


def coordination_body(db: Database, code: str, on: date | None = None) -> dict[str, Any]:
    """The unit organisations in a street's coordination body (党建工作协调议事机构): now,
    or on `on` by effective dates; by unit code."""
    org = organisation(db, code)
    if on is None:
        where, params = "c.left_on = ?", (OPEN_END,)
    else:
        where, params = "c.joined_on <= ? AND c.left_on > ?", (on.isoformat(), on.isoformat())
    rows = db.query(
        "SELECT c.unit_id, o.code, o.name, o.status, c.joined_on, c.left_on"
        " FROM rm_coordination_units c LEFT JOIN rm_organisations o ON o.id = c.unit_id"
        f" WHERE c.street_id = ? AND {where} ORDER BY o.code, c.unit_id",
        (org["id"], *params),
    )
    keys = ("unit_organisation_id", "code", "name", "status", "joined_on", "left_on")
    units = [dict(zip(keys, r, strict=True)) for r in rows]
    for unit in units:
        if unit["left_on"] == OPEN_END:
            unit["left_on"] = None
    return {
        "organisation": org["code"],
        "level": org["level"],
        "on": on.isoformat() if on else None,
        "units": units,
    }


# -- rollups --------------------------------------------------------------------


def age_band_sql(column: str = "birth_date") -> str:
    """A select of `k` = age band over `counted_members`, on the day given by two
    parameters (year, 'MM-DD'): completed years, computed once per row, then banded."""
    age = (
        f"(? - CAST(substr({column}, 1, 4) AS INTEGER)"
        f" - CASE WHEN substr({column}, 6, 5) > ? THEN 1 ELSE 0 END)"
    )
    whens = " ".join(f"WHEN age <= {upper} THEN '{label}'" for upper, label in AGE_BANDS)
    return (
        f"SELECT CASE {whens} ELSE '{OLDEST_BAND}' END AS k"
        f" FROM (SELECT {age} AS age FROM counted_members) aged"
    )


def _base(db: Database, root_id: str, day: date | None) -> tuple[str, tuple[Any, ...]]:
    """Rows (stage, sex, birth_date, ethnicity, education, occupation, admitted_on) of
    everyone counted in the subtree: now, or on `day` by effective dates.

    The subtree is resolved first and passed as a list of ids: PostgreSQL cannot
    estimate the size of a recursive CTE and would hash-join a full table scan, while a
    list of a district's few hundred organisations makes it walk an index once per
    organisation: rm_member_timeline_asof as of a day, and now (SQLite only: PostgreSQL
    reads its counters) rm_members_rollup, index-only.
    """
    ids = sorted(subtree_ids(db, root_id, day))
    marks = ", ".join("?" * len(ids))
    if day is None:
        return (
            "WITH counted AS (SELECT m.stage, m.sex, m.birth_date, m.ethnicity, m.education,"
            " m.occupation, m.admitted_on FROM rm_members m"
            f" WHERE m.organisation_id IN ({marks}) AND m.status = 'ACTIVE')",
            tuple(ids),
        )
    iso = day.isoformat()
    return (
        "WITH counted AS (SELECT t.stage, m.sex, m.birth_date, m.ethnicity, m.education,"
        " m.occupation, m.admitted_on FROM rm_member_timeline t"
        " JOIN rm_members m ON m.id = t.member_id"
        f" WHERE t.organisation_id IN ({marks}) AND t.valid_from <= ? AND t.valid_to > ?"
        " AND t.status = 'ACTIVE')",
        (*ids, iso, iso),
    )


def _age_band(age: int) -> str:
    return next((label for upper, label in AGE_BANDS if age <= upper), OLDEST_BAND)


# GROUPING(sex, born, joined) of each grouping set of _counts_in_one_pass.
_BY_PERSON, _BY_BIRTH, _BY_JOINED = 0b011, 0b101, 0b110


def _counts_in_one_pass(
    db: Database, base: str, params: tuple[Any, ...], age_day: date
) -> dict[str, dict[str, int]]:
    """Every breakdown from one read of the counted rows, with three hashed grouping sets
    (PostgreSQL): (stage, sex, ethnicity, education, occupation), (stage, birth year,
    birthday still to come) and (stage, year joined); the breakdowns are sums of these.

    A query per breakdown read a district's ~60,000 rows seven times (EXPLAIN on a city
    of 1,000,000: 7 x ~12 ms); seven grouping sets in one query sorted to disk at the
    default work_mem (~90 ms). Ages are banded here as age_band_sql does in SQL."""
    sql = (
        f"{base} SELECT GROUPING(sex, born, joined), stage, sex, ethnicity, education,"
        " occupation, born, later, joined, count(*) FROM (SELECT stage, sex, ethnicity,"
        " education, occupation, substr(birth_date, 1, 4) AS born,"
        " substr(birth_date, 6, 5) > ? AS later, substr(admitted_on, 1, 4) AS joined"
        " FROM counted) c GROUP BY GROUPING SETS ((stage, sex, ethnicity, education,"
        " occupation), (stage, born, later), (stage, joined))"
    )
    with db.transaction() as cur:
        # A few thousand groups: enough memory to hash all three sets, no sort spill.
        cur.execute("SET LOCAL work_mem = '64MB'")
        cur.execute(sql, (*params, age_day.strftime("%m-%d")))
        rows = cur.fetchall()
    keys = ("by_stage", "by_sex", "by_ethnicity", "by_education", "by_occupation",
            "by_age_band", "by_year_joined")  # fmt: skip
    counts: dict[str, dict[str, int]] = {k: {} for k in keys}

    def add(key: str, value: Any, n: int) -> None:
        if value is not None:
            counts[key][str(value)] = counts[key].get(str(value), 0) + n

    for mask, stage, sex, ethnicity, education, occupation, born, later, joined, n in rows:
        n = int(n)
        if mask == _BY_PERSON:
            add("by_stage", stage, n)
        if stage not in MEMBER_STAGES:
            continue
        if mask == _BY_PERSON:
            add("by_sex", sex, n)
            add("by_ethnicity", ethnicity, n)
            add("by_education", education, n)
            add("by_occupation", occupation, n)
        elif mask == _BY_BIRTH and born is not None:
            add("by_age_band", _age_band(age_day.year - int(born) - (1 if later else 0)), n)
        elif mask == _BY_JOINED:
            add("by_year_joined", joined, n)
    return {key: dict(sorted(c.items())) for key, c in counts.items()}


def counted_breakdowns(db: Database, root_id: str, age_day: date) -> dict[str, dict[str, int]]:
    """The current breakdowns of a subtree from its counters (PostgreSQL): what
    _counts_in_one_pass gives over the member rows, in a few hundred rows' reading."""
    return rollup_counts.breakdowns(
        db, root_id, age_day, _age_band, tuple(upper for upper, _ in AGE_BANDS)
    )


def rollup(db: Database, code: str, *, as_of: date | None = None) -> dict[str, Any]:
    """Counts for the organisation and everything under it: by stage over everyone counted,
    and the breakdowns the statistics ask for over party members (probationary + full).

    Without `as_of`: the current state, ages on today. With it: who was counted where on
    that day by effective dates (late changes included), ages on that day.
    """
    org = organisation(db, code)
    age_day = as_of or date.today()
    result: dict[str, Any] = {
        "organisation": org["code"],
        "level": org["level"],
        "as_of": as_of.isoformat() if as_of else None,
    }
    if db.dialect == "postgres" and as_of is None:
        # The subtree's counters, kept by triggers with the rows (rollup_counts).
        result.update(counted_breakdowns(db, org["id"], age_day))
    elif db.dialect == "postgres":
        base, params = _base(db, org["id"], as_of)
        result.update(_counts_in_one_pass(db, base, params, age_day))
    else:
        base, params = _base(db, org["id"], as_of)
        result.update(_counts_per_breakdown(db, base, params, age_day))
    result["by_stage"] = {s: result["by_stage"].get(s, 0) for s in STAGES}
    result["total"] = sum(result["by_stage"].values())
    result["party_members"] = sum(result["by_stage"][s] for s in MEMBER_STAGES)
    return result


def _counts_per_breakdown(
    db: Database, base: str, params: tuple[Any, ...], age_day: date
) -> dict[str, dict[str, int]]:
    """One query per breakdown (SQLite has no GROUPING SETS; its cities are small)."""
    base += ", counted_members AS (SELECT * FROM counted WHERE stage IN ('PROBATIONARY', 'FULL'))"
    members = "SELECT {} AS k FROM counted_members"
    dims: dict[str, tuple[str, tuple[Any, ...]]] = {
        "by_stage": ("SELECT stage AS k FROM counted", ()),
        "by_sex": (members.format("sex"), ()),
        "by_ethnicity": (members.format("ethnicity"), ()),
        "by_education": (members.format("education"), ()),
        "by_occupation": (members.format("occupation"), ()),
        "by_age_band": (age_band_sql(), (age_day.year, age_day.strftime("%m-%d"))),
        "by_year_joined": (members.format("substr(admitted_on, 1, 4)"), ()),
    }
    result: dict[str, dict[str, int]] = {}
    for key, (select, extra) in dims.items():
        rows = db.query(
            f"{base} SELECT k, count(*) FROM ({select}) keyed GROUP BY k", (*params, *extra)
        )
        counts = {str(k): int(n) for k, n in rows if k is not None}
        result[key] = dict(sorted(counts.items()))
    return result


# -- audit trails -----------------------------------------------------------------


def _trail_rows(rows: list[Any], limit: int) -> dict[str, Any]:
    items = [dict(zip(_TRAIL_KEYS, r, strict=True)) for r in rows[:limit]]
    last = items[-1] if items and len(rows) > limit else None
    # URL-safe, opaque enough: the last event of the page, by primary key.
    return {"items": items, "next": f"{last['aggregate_id']}:{last['version']}" if last else None}


def _after(db: Database, after: str | None) -> tuple[str, str, int]:
    """(recorded_at, aggregate_id, version) of the event a page cursor names."""
    if not after:
        return ("", "", 0)
    aggregate_id, _, version = after.rpartition(":")
    # isascii: "²" and other digits pass isdigit() and int() refuses them; at most 18
    # digits, so a version past the column's bigint is an unknown cursor, not an error.
    if not (version.isascii() and version.isdigit() and len(version) <= 18):
        raise BadCursor(f"unknown page cursor {after!r}")
    rows = db.query(
        "SELECT recorded_at FROM rm_audit WHERE aggregate_id = ? AND version = ?",
        (aggregate_id, int(version)),
    )
    if not rows:
        raise BadCursor(f"unknown page cursor {after!r}")
    return (rows[0][0], aggregate_id, int(version))


def trail_page(
    db: Database, aggregate_id: str, *, limit: int = 100, after: str | None = None
) -> dict[str, Any]:
    """Every event of one member (or organisation) in the order the store recorded
    them: by version, as an aggregate's event n + 1 is recorded after event n (its
    recorded_at is the writer's clock, and the order of two writers' clocks is not the
    order of their writes). A range of rm_audit's primary key."""
    limit = _limit(limit)
    _, cursor_aggregate, version = _after(db, after)
    if after and cursor_aggregate != aggregate_id:
        raise BadCursor(f"page cursor {after!r} is not an event of {aggregate_id}")
    rows = db.query(
        f"SELECT {', '.join(_TRAIL_KEYS)} FROM rm_audit WHERE aggregate_id = ?"
        " AND version > ? ORDER BY version LIMIT ?",
        (aggregate_id, version, limit + 1),
    )
    return _trail_rows(rows, limit)


def organisation_trail_page(
    db: Database, code: str, *, limit: int = 100, after: str | None = None
) -> dict[str, Any]:
    """The organisation's own events and those of members while it held them."""
    org = organisation(db, code)
    limit = _limit(limit)
    key = _after(db, after)
    rows = db.query(
        f"SELECT {', '.join(_TRAIL_KEYS)} FROM rm_audit WHERE organisation_id = ?"
        " AND (recorded_at, aggregate_id, version) > (?, ?, ?)"
        " ORDER BY recorded_at, aggregate_id, version LIMIT ?",
        (org["id"], *key, limit + 1),
    )
    return {"organisation": org["code"], **_trail_rows(rows, limit)}


def member_trail(
    db: Database, member_id: str, *, limit: int = 100, after: str | None = None
) -> list[dict[str, Any]]:
    return trail_page(db, member_id, limit=limit, after=after)["items"]


def roster_as_of(db: Database, code: str, day: date) -> list[dict[str, Any]]:
    """Kept for earlier callers: see projections.history."""
    from projections.history import roster_as_of as by_history

    return by_history(db, code, day)
