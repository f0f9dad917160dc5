"""Rollup counters: for every organisation, the counts of the rollup over its WHOLE
subtree, kept by PostgreSQL itself in the transaction that changes the read model.

Why: the current-state rollup of a district of a 1,000,000-member city read all of its
~60,000 active member rows (index-only, three hashed grouping sets: ~40 ms); with the
counters it reads a few hundred rows of `rm_rollup_counts` (issue 7: p99 < 20 ms).

How they stay right: statement-level AFTER triggers with transition tables on
`rm_members` turn each statement's changes into deltas at the members' organisations
(-1 for an old row that was counted, +1 for a new one, only for rows whose counted
columns changed) and keep them in `rm_rollup_deltas`; at commit a deferred constraint
trigger (scheduled once per transaction) takes the transaction's deltas, adds them up
per (ancestor, dimension, value) and applies them in one ordered INSERT ... ON CONFLICT
DO UPDATE. Being triggers in the writing transaction, they cannot drift from the rows,
whoever writes them (the projector, a rebuild, a repair by hand), and the projector's
Python code is unaware of them. Folding once at commit rather than per statement keeps
the projector's cost low (a batch would otherwise update the city's counters hundreds of
times, each update one more row version in the transaction for the next to step over)
and locks the counters every writer shares only from the fold to the commit.
SQLite has no statement triggers with transition tables: it keeps the row-reading rollup
(its cities are small).

What is counted, over ACTIVE members only (rows are never deleted when counts reach 0:
the query skips zeros, and a re-used value needs no insert):

- `stage`: every stage, for `by_stage`;
- over party members (PROBATIONARY, FULL) only, as the statistics ask: `sex`,
  `ethnicity`, `education`, `occupation`, `joined` (year of admission), `born` (birth
  year) and `birthday` (the full birth date). Age bands depend on the day: a birth year
  falls in one band except the few years whose members straddle a band boundary on that
  day, which the query splits by reading their `birthday` rows (see `breakdowns`).

An organisation's counts are those of its subtree. The walk upwards follows
`rm_organisations.parent_id` from the member's organisation, and includes a parent that
has no row yet (topics are not ordered with each other: a branch may be projected before
its street), so when that parent arrives, its counts are complete and only need adding
to its own ancestors. Re-parenting moves the organisation's counts from the old chain to
the new one; before any statement on `rm_organisations` the transaction's pending deltas
are folded on the chains as they were, and an advisory lock keeps other transactions'
folds from walking the chains until the move commits. Merging and dissolving move
nothing: the domain closes only organisations that hold no members or sub-organisations.

Known limit: one statement that re-parents two organisations of which one is an ancestor
of the other is not handled exactly (the chains are walked in the statement's final
state); the projector changes one organisation per statement.

Generations: the DDL here goes through the read-model cursor like every other statement,
so `rm_` names (tables, functions, triggers, inside the function bodies too) are
rewritten to the generation's prefix; each generation has its own functions.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from projections.database import Cursor, Database

_DIMENSIONS = ("stage", "sex", "ethnicity", "education", "occupation", "joined", "born")
_BREAKDOWN = {"stage": "by_stage", "sex": "by_sex", "ethnicity": "by_ethnicity",
              "education": "by_education", "occupation": "by_occupation",
              "joined": "by_year_joined"}  # fmt: skip

TABLE_DDL = """CREATE TABLE IF NOT EXISTS rm_rollup_counts (
        organisation_id TEXT NOT NULL, dimension TEXT NOT NULL, value TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (organisation_id, dimension, value))"""
# A transaction's member deltas, at the members' own organisations, until its commit
# folds them into the counters (empty between transactions).
DELTAS_DDL = """CREATE TABLE IF NOT EXISTS rm_rollup_deltas (
        organisation_id TEXT NOT NULL, dimension TEXT NOT NULL, value TEXT NOT NULL,
        n INTEGER NOT NULL)"""
# One row per transaction with deltas: its deferred trigger folds them at commit.
PENDING_DDL = "CREATE TABLE IF NOT EXISTS rm_rollup_pending (pending INTEGER NOT NULL)"

# A transaction-local setting: "this transaction has its fold scheduled already".
_SCHEDULED = "registry.rm_rollup_pending"

# (organisation_id, dimension, value, n) at the organisations where they apply, summed
# over every ancestor (the organisation itself included), inserted as counters; with
# _ADDED_TO_EXISTING, added to the counters already there (_ADD_TO_ANCESTORS).
# Rows go in key order, so two writers lock shared counters (the city's) in one order.
_INSERT_AT_ANCESTORS = """WITH RECURSIVE {before}deltas(organisation_id, dimension, value, n) AS (
    {deltas}),
origins AS (
    SELECT organisation_id, dimension, value, sum(n)::integer AS n FROM deltas
    GROUP BY organisation_id, dimension, value),
up(origin, ancestor) AS (
    SELECT DISTINCT organisation_id, organisation_id FROM origins
    UNION
    SELECT up.origin, o.parent_id FROM up JOIN rm_organisations o ON o.id = up.ancestor
    WHERE o.parent_id IS NOT NULL)
INSERT INTO rm_rollup_counts AS c (organisation_id, dimension, value, n)
SELECT up.ancestor, d.dimension, d.value, sum(d.n)::integer
FROM origins d JOIN up ON up.origin = d.organisation_id
GROUP BY up.ancestor, d.dimension, d.value HAVING sum(d.n) <> 0
ORDER BY up.ancestor, d.dimension, d.value"""
_ADDED_TO_EXISTING = (
    "\nON CONFLICT (organisation_id, dimension, value) DO UPDATE SET n = c.n + excluded.n"
)
_ADD_TO_ANCESTORS = _INSERT_AT_ANCESTORS + _ADDED_TO_EXISTING

# One (sign, member columns) row per counted member row -> its (dimension, value) pairs:
# the stage of every active member, the other dimensions of party members only. Those
# are unfolded for party members alone: unfolding every row into all eight pairs and
# filtering afterwards took 29 ms for 6,700 new applicants, against 10 ms this way.
# `materialized`: a trigger's few rows are worked out once for both parts; a recount
# reads rm_members twice rather than keep a city's rows aside.
_MEMBER_KEYS = """WITH m(sign, organisation_id, status, stage, sex, birth_date, ethnicity,
                   education, occupation, admitted_on) AS {materialized} ({rows})
    SELECT m.organisation_id, 'stage' AS dimension, m.stage AS value, m.sign FROM m
    WHERE m.status = 'ACTIVE' AND m.stage IS NOT NULL
    UNION ALL
    SELECT m.organisation_id, k.dimension, k.value, m.sign FROM m
    CROSS JOIN LATERAL (VALUES ('sex', m.sex),
        ('ethnicity', m.ethnicity), ('education', m.education),
        ('occupation', m.occupation), ('joined', substr(m.admitted_on, 1, 4)),
        ('born', substr(m.birth_date, 1, 4)), ('birthday', m.birth_date)) k(dimension, value)
    WHERE m.status = 'ACTIVE' AND m.stage IN ('PROBATIONARY', 'FULL')
      AND k.value IS NOT NULL"""

_COUNTED = ("organisation_id, status, stage, sex, birth_date, ethnicity, education,"
            " occupation, admitted_on")  # fmt: skip


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in _COUNTED.split(","))


# An UPDATE counts only the rows whose counted columns changed (most updates of the
# projector touch standing, transfer, placement or community: nothing to add).
_MEMBER_UPDATE_ROWS = (
    f"SELECT s.* FROM old_rows o JOIN new_rows n ON n.id = o.id"
    f" CROSS JOIN LATERAL (VALUES (-1, {_prefixed('o')}), (1, {_prefixed('n')}))"
    f" s(sign, {_COUNTED})"
    f" WHERE ({_prefixed('o')}) IS DISTINCT FROM ({_prefixed('n')})"
)


def _record_member_deltas(rows: str) -> str:
    """Plpgsql: a statement's member deltas kept for the commit, which is scheduled once
    per transaction. Folding at commit rather than per statement matters: a batch of the
    projector changes the city's counters hundreds of times, and each update of one row
    within one transaction adds a row version the next one must step over; and the
    counters (the city's above all, shared by every writer) are locked only from the
    fold to the commit, in one ordered statement, not for the whole transaction."""
    keys = _MEMBER_KEYS.format(rows=rows, materialized="MATERIALIZED")
    return f"""INSERT INTO rm_rollup_deltas (organisation_id, dimension, value, n)
    SELECT organisation_id, dimension, value, sum(sign) FROM ({keys}) k
    GROUP BY organisation_id, dimension, value HAVING sum(sign) <> 0;
IF FOUND AND coalesce(current_setting('{_SCHEDULED}', true), '') = '' THEN
    PERFORM set_config('{_SCHEDULED}', 'yes', true);
    INSERT INTO rm_rollup_pending (pending) VALUES (1);
END IF"""


# Folds (shared) and moves of organisations (exclusive) exclude each other, so a fold
# never walks chains that a concurrent, not yet committed, move is changing: it waits,
# then sees the moved tree (each statement of a trigger takes a new snapshot).
_TREE_LOCK = "hashtext(current_schema() || '.rm_rollup_counts')"

# Every kept delta, taken out of rm_rollup_deltas and added up the chains as they are now.
_FOLD = f"PERFORM pg_advisory_xact_lock_shared({_TREE_LOCK});\n" + _ADD_TO_ANCESTORS.format(
    before="taken AS (DELETE FROM rm_rollup_deltas"
    " RETURNING organisation_id, dimension, value, n),\n",
    deltas="SELECT * FROM taken",
)

# A moved organisation's counters (its subtree) leave its old parent's chain and join
# its new parent's; an organisation inserted late brings what was counted under it.
# The transaction's member deltas were folded before the statement (on the chains as
# they were when the members changed): the counters moved must be whole.
_MOVE_ORGANISATIONS = """SELECT p.parent_id, c.dimension, c.value, p.sign * c.n
    FROM ({moved}) p(id, parent_id, sign)
    JOIN rm_rollup_counts c ON c.organisation_id = p.id
    WHERE p.parent_id IS NOT NULL AND c.n <> 0"""

_ORGANISATION_UPDATE_MOVES = """SELECT o.id, o.parent_id, -1 FROM old_rows o
        JOIN new_rows n ON n.id = o.id WHERE o.parent_id IS DISTINCT FROM n.parent_id
    UNION ALL
    SELECT n.id, n.parent_id, 1 FROM old_rows o
        JOIN new_rows n ON n.id = o.id WHERE o.parent_id IS DISTINCT FROM n.parent_id"""


def _move_organisations(moved: str) -> str:
    return _ADD_TO_ANCESTORS.format(before="", deltas=_MOVE_ORGANISATIONS.format(moved=moved))


# Every counter again from the member rows; deltas kept so far are in those rows.
_EMPTIED = "DELETE FROM rm_rollup_deltas;\nDELETE FROM rm_rollup_counts;\n"
_EVERY_MEMBER = _MEMBER_KEYS.format(rows=f"SELECT 1, {_COUNTED} FROM rm_members",
                                    materialized="NOT MATERIALIZED")
_RECOUNT = _EMPTIED + _ADD_TO_ANCESTORS.format(before="", deltas=_EVERY_MEMBER)
# The same into counters emptied under locks that keep every other writer of them out
# (recount): plain inserts. Each ON CONFLICT insertion is a speculative one, checked
# and confirmed apart: a third of a city's count (1.8 million counters, most of them
# birthdays), measured at 300,000 members: 7.1 -> 5.3 s.
_COUNT_AFRESH = (
    "LOCK TABLE rm_members, rm_organisations IN SHARE ROW EXCLUSIVE MODE;\n"
    + _EMPTIED + _INSERT_AT_ANCESTORS.format(before="", deltas=_EVERY_MEMBER)
)


def _function(name: str, body: str, returns: str = "trigger") -> str:
    end = "RETURN NULL;\n" if returns == "trigger" else ""
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS {returns} LANGUAGE plpgsql AS $body$\n"
        f"BEGIN\n{body};\n{end}END\n$body$"
    )


# (trigger function, event, table, transition tables, body)
_TRIGGERS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("rm_rollup_counts_members_ins", "INSERT", "rm_members", "NEW TABLE AS new_rows",
     _record_member_deltas(f"SELECT 1, {_COUNTED} FROM new_rows")),
    ("rm_rollup_counts_members_upd", "UPDATE", "rm_members",
     "OLD TABLE AS old_rows NEW TABLE AS new_rows", _record_member_deltas(_MEMBER_UPDATE_ROWS)),
    ("rm_rollup_counts_members_del", "DELETE", "rm_members", "OLD TABLE AS old_rows",
     _record_member_deltas(f"SELECT -1, {_COUNTED} FROM old_rows")),
    ("rm_rollup_counts_organisations_ins", "INSERT", "rm_organisations",
     "NEW TABLE AS new_rows", _move_organisations("SELECT id, parent_id, 1 FROM new_rows")),
    ("rm_rollup_counts_organisations_upd", "UPDATE", "rm_organisations",
     "OLD TABLE AS old_rows NEW TABLE AS new_rows",
     _move_organisations(_ORGANISATION_UPDATE_MOVES)),
    ("rm_rollup_counts_organisations_del", "DELETE", "rm_organisations",
     "OLD TABLE AS old_rows", _move_organisations("SELECT id, parent_id, -1 FROM old_rows")),
    ("rm_rollup_counts_organisations_before", "INSERT OR UPDATE OR DELETE OR TRUNCATE",
     "rm_organisations", None,
     f"PERFORM pg_advisory_xact_lock({_TREE_LOCK});\nPERFORM rm_rollup_counts_fold()"),
    # TRUNCATE fires no row changes to follow: count everything again instead.
    ("rm_rollup_counts_members_trunc", "TRUNCATE", "rm_members", None, _RECOUNT),
    ("rm_rollup_counts_organisations_trunc", "TRUNCATE", "rm_organisations", None, _RECOUNT),
)  # fmt: skip

# At commit (deferred), once per transaction that kept deltas.
_COMMIT_TRIGGER = "rm_rollup_counts_commit"
_COMMIT_BODY = (
    f"PERFORM set_config('{_SCHEDULED}', '', true);\n"
    "DELETE FROM rm_rollup_pending;\nPERFORM rm_rollup_counts_fold()"
)

FUNCTIONS = ("rm_rollup_counts_fold", _COMMIT_TRIGGER, *(name for name, *_ in _TRIGGERS))


def install(cur: Cursor) -> None:
    """Creates (or replaces) the functions and triggers of the cursor's generation
    (PostgreSQL), and counts from the rows when the triggers are new: a read model made
    before the counters existed, or loaded in bulk (bench/citygen.py).

    The member and organisation tables are locked against writers first, so the counts
    start from exactly the rows the triggers then follow, and two processes starting at
    once install once."""
    cur.execute("LOCK TABLE rm_members, rm_organisations IN SHARE ROW EXCLUSIVE MODE")
    names = ", ".join(f"'{name}'" for name in FUNCTIONS)  # triggers share their names
    cur.execute(
        "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"
        f" AND tgname IN ({names})"
        " AND tgrelid IN ('rm_members'::regclass, 'rm_organisations'::regclass,"
        " 'rm_rollup_pending'::regclass)"
    )
    fresh = int(cur.fetchone()[0]) < len(FUNCTIONS) - 1
    cur.execute(_function("rm_rollup_counts_fold", _FOLD, returns="void"))
    cur.execute(_function(_COMMIT_TRIGGER, _COMMIT_BODY))
    for name, _, _, _, body in _TRIGGERS:
        cur.execute(_function(name, body))
    if not fresh:
        return
    # Every transaction leaves its deltas deleted: vacuum often, so the fold's scan of
    # the (small) table does not step over many dead rows.
    cur.execute(
        "ALTER TABLE rm_rollup_deltas SET (autovacuum_vacuum_scale_factor = 0,"
        " autovacuum_vacuum_threshold = 5000)"
    )
    # Counters are only ever updated in place (n is not indexed): room on each page lets
    # those updates stay heap-only, without a new primary-key entry each time.
    cur.execute("ALTER TABLE rm_rollup_counts SET (fillfactor = 70)")
    cur.execute(f"DROP TRIGGER IF EXISTS {_COMMIT_TRIGGER} ON rm_rollup_pending")
    cur.execute(
        f"CREATE CONSTRAINT TRIGGER {_COMMIT_TRIGGER} AFTER INSERT ON rm_rollup_pending"
        f" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {_COMMIT_TRIGGER}()"
    )
    for name, event, table, referencing, _ in _TRIGGERS:
        cur.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        transition = f" REFERENCING {referencing}" if referencing else ""
        when = "BEFORE" if name.endswith("_before") else "AFTER"
        cur.execute(
            f"CREATE TRIGGER {name} {when} {event} ON {table}{transition}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    recount(cur)


def recount(cur: Cursor) -> None:
    """Every counter again from the member rows (one aggregate; seconds for a city),
    with the member and organisation tables locked against writers until the commit."""
    for statement in _COUNT_AFRESH.split(";\n"):
        cur.execute(statement)


def drop(cur: Cursor) -> None:
    """The trigger functions of the cursor's generation (its tables are dropped apart)."""
    for name in FUNCTIONS:
        cur.execute(f"DROP FUNCTION IF EXISTS {name}() CASCADE")


def straddling_years(age_day: date, uppers: tuple[int, ...]) -> dict[int, int]:
    """Birth years whose members fall in two bands on `age_day`: born in year Y, one is
    `age_day.year - Y` once the birthday has passed, one less before; that differs in
    band only when the younger age is a band's upper bound. {year: that upper bound}."""
    return {age_day.year - upper - 1: upper for upper in uppers}


def breakdowns(
    db: Database, root_id: str, age_day: date, age_band: Any, uppers: tuple[int, ...]
) -> dict[str, dict[str, int]]:
    """The rollup's breakdowns of an organisation's subtree, now, from its counters: the
    same dictionaries as queries._counts_in_one_pass, ages on `age_day` (banded by
    `age_band`, a function of completed years; `uppers` its band upper bounds)."""
    straddling = straddling_years(age_day, uppers)
    mmdd = age_day.strftime("%m-%d")
    ranges = " OR ".join("(value > ? AND value < ?)" for _ in straddling)
    bounds = [b for year in straddling for b in (f"{year:04d}-{mmdd}", f"{year + 1:04d}")]
    marks = ", ".join("?" * len(_DIMENSIONS))
    with db.transaction() as cur:
        cur.execute(
            "SELECT dimension, value, n FROM rm_rollup_counts WHERE organisation_id = ?"
            f" AND dimension IN ({marks}) AND n <> 0",
            (root_id, *_DIMENSIONS),
        )
        rows = cur.fetchall()
        # Members of a straddling year whose birthday is still to come on the day.
        cur.execute(
            "SELECT substr(value, 1, 4), sum(n) FROM rm_rollup_counts"
            f" WHERE organisation_id = ? AND dimension = 'birthday' AND ({ranges})"
            " GROUP BY substr(value, 1, 4)",
            (root_id, *bounds),
        )
        later = {int(year): int(n) for year, n in cur.fetchall()}
    counts: dict[str, dict[str, int]] = {key: {} for key in (*_BREAKDOWN.values(),
                                                             "by_age_band")}  # fmt: skip
    bands = counts["by_age_band"]

    def band(age: int, n: int) -> None:
        if n:
            label = age_band(age)
            bands[label] = bands.get(label, 0) + n

    for dimension, value, n in rows:
        if dimension == "born":
            year, n = int(value), int(n)
            still_to_come = later.get(year, 0)
            band(age_day.year - year, n - still_to_come)
            band(age_day.year - year - 1, still_to_come)
        else:
            counts[_BREAKDOWN[dimension]][str(value)] = int(n)
    return {key: dict(sorted(c.items())) for key, c in counts.items()}
