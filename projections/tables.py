"""The read-model tables. Dates are ISO text in both engines, so they sort and compare
the same way everywhere; an open interval ends on OPEN_END rather than NULL so that
"valid on D" is two plain comparisons an index range can serve.

Sized for one city (about 1,000,000 members, a few million events) on PostgreSQL: each
index below says which question it serves.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor

from projections import rollup_counts
from projections.database import Database

log = logging.getLogger(__name__)

OPEN_END = "9999-12-31"

TABLES = (
    "rm_organisations",
    "rm_organisation_history",
    "rm_organisation_units",
    "rm_coordination_units",
    "rm_members",
    "rm_member_circumstances",
    "rm_member_history",
    "rm_member_timeline",
    "rm_movements",
    "rm_member_talks",
    "rm_member_opinions",
    "rm_admission_exceptions",
    "rm_audit",
    "rm_versions",
    "rm_offsets",
    "rm_undecodable",
    "rm_rollup_counts",
    "rm_rollup_deltas",
    "rm_rollup_pending",
)

DDL = [
    # status: ACTIVE, MERGED or DISSOLVED; closed rows stay so history and trails resolve.
    """CREATE TABLE IF NOT EXISTS rm_organisations (
        id TEXT PRIMARY KEY, code TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
        level TEXT NOT NULL, parent_id TEXT, established_on TEXT NOT NULL,
        registration_number TEXT, supervising_body TEXT,
        status TEXT NOT NULL DEFAULT 'ACTIVE', closed_on TEXT, merged_into_id TEXT)""",
    # The recursive subtree walk (rollups, re-parenting moves the subtree) follows
    # parent_id downwards one level per step: each step is an index lookup.
    "CREATE INDEX IF NOT EXISTS rm_organisations_parent ON rm_organisations (parent_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS rm_organisations_code ON rm_organisations (code)",
    # Parent and status by effective date, for the subtree "as of" a date. Thousands
    # of rows for a city: the as-of subtree reads them all, which is cheap.
    """CREATE TABLE IF NOT EXISTS rm_organisation_history (
        organisation_id TEXT NOT NULL, version INTEGER NOT NULL, attribute TEXT NOT NULL,
        effective_date TEXT NOT NULL, value TEXT,
        PRIMARY KEY (organisation_id, attribute, version))""",
    # Units (by registration number / unit code) a joint or temporary branch covers.
    """CREATE TABLE IF NOT EXISTS rm_organisation_units (
        organisation_id TEXT NOT NULL, unit_code TEXT NOT NULL, covered_since TEXT NOT NULL,
        PRIMARY KEY (organisation_id, unit_code))""",
    # Unit organisations in a street's coordination body, [joined_on, left_on): the body
    # now is a range on the street, as of D two comparisons on the same rows.
    """CREATE TABLE IF NOT EXISTS rm_coordination_units (
        street_id TEXT NOT NULL, unit_id TEXT NOT NULL, version INTEGER NOT NULL,
        joined_on TEXT NOT NULL, left_on TEXT NOT NULL,
        PRIMARY KEY (street_id, unit_id, version))""",
    # The current state of every member; exits keep the row with their status.
    """CREATE TABLE IF NOT EXISTS rm_members (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, sex TEXT NOT NULL, birth_date TEXT NOT NULL,
        ethnicity TEXT NOT NULL, education TEXT NOT NULL, occupation TEXT NOT NULL,
        organisation_id TEXT NOT NULL, stage TEXT NOT NULL, stage_since TEXT NOT NULL,
        applied_on TEXT NOT NULL, transfer_to TEXT, transfer_letter TEXT,
        transfer_valid_until TEXT, transfer_started_on TEXT,
        episode INTEGER NOT NULL DEFAULT 1, status TEXT NOT NULL DEFAULT 'ACTIVE',
        exited_on TEXT, standing TEXT NOT NULL DEFAULT 'NORMAL', standing_since TEXT,
        standing_until TEXT, activist_since TEXT, target_since TEXT, admitted_on TEXT,
        probation_ends_on TEXT, full_since TEXT, placement_organisation_id TEXT,
        placement_since TEXT, community_id TEXT, community_since TEXT)""",
    # Roster page: WHERE organisation_id = ? AND status = 'ACTIVE' AND (name, id) > (?, ?)
    # ORDER BY name, id LIMIT n is one index range read in order, n rows, no sort, at
    # any page depth (keyset paging, not OFFSET).
    """CREATE INDEX IF NOT EXISTS rm_members_roster
        ON rm_members (organisation_id, status, name, id)""",
    # Compliance: overdue probation and transfers are found per subtree by these.
    """CREATE INDEX IF NOT EXISTS rm_members_probation
        ON rm_members (stage, probation_ends_on)""",
    """CREATE INDEX IF NOT EXISTS rm_members_transfer
        ON rm_members (transfer_valid_until)""",
    """CREATE TABLE IF NOT EXISTS rm_member_circumstances (
        member_id TEXT NOT NULL, circumstance TEXT NOT NULL, since TEXT NOT NULL,
        PRIMARY KEY (member_id, circumstance))""",
    # Mobile members not placed: from the circumstance to the (few) members holding it.
    """CREATE INDEX IF NOT EXISTS rm_member_circumstances_kind
        ON rm_member_circumstances (circumstance, member_id)""",
    # One row per change of one attribute (organisation, stage, standing, status,
    # in-transit, placement, community, episode), so changes that arrive late land in
    # their place by effective date; the timeline below is folded from these rows. An
    # episode row also stands for the rest of the episode's start (apply/timeline.py
    # EPISODE_START), which is not written out.
    """CREATE TABLE IF NOT EXISTS rm_member_history (
        member_id TEXT NOT NULL, version INTEGER NOT NULL, attribute TEXT NOT NULL,
        effective_date TEXT NOT NULL, value TEXT,
        PRIMARY KEY (member_id, attribute, version))""",
    # Intervals [valid_from, valid_to) over which a member's organisation, stage,
    # standing and status were constant, re-folded from the history on every event of
    # that member (a few rows each), so a late change rewrites only that member.
    """CREATE TABLE IF NOT EXISTS rm_member_timeline (
        member_id TEXT NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT NOT NULL,
        organisation_id TEXT, stage TEXT, standing TEXT, status TEXT, episode INTEGER,
        in_transit_to TEXT, placement_organisation_id TEXT, community_id TEXT,
        PRIMARY KEY (member_id, valid_from))""",
    # Roster as of D: WHERE organisation_id = ? AND valid_from <= D AND valid_to > D is
    # an index range on (organisation_id, valid_from <= D); rows ending before D are
    # filtered from the index entry itself, so the heap is read only for matching rows.
    # "Where was M on D" uses the primary key (member_id, valid_from <= D).
    """CREATE INDEX IF NOT EXISTS rm_member_timeline_asof
        ON rm_member_timeline (organisation_id, valid_from, valid_to, status, member_id)""",
    # Facts the period statistics count: admissions and conversions where approved,
    # exits where decided, transfers from / to. organisation_id is where it counts.
    """CREATE TABLE IF NOT EXISTS rm_movements (
        member_id TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL,
        effective_date TEXT NOT NULL, organisation_id TEXT NOT NULL,
        other_organisation_id TEXT, detail TEXT, stage TEXT,
        PRIMARY KEY (member_id, version, kind))""",
    # Period statistics: per organisation of the subtree, a range on the effective date.
    """CREATE INDEX IF NOT EXISTS rm_movements_period
        ON rm_movements (organisation_id, kind, effective_date)""",
    """CREATE INDEX IF NOT EXISTS rm_movements_incoming
        ON rm_movements (other_organisation_id, kind, effective_date)""",
    # Facts the compliance views look for, per member (primary key prefix: member_id):
    # talks with the applicant (入党谈话), opinions of the community the member reports
    # to, and admissions given despite a recent transfer, with the reason.
    """CREATE TABLE IF NOT EXISTS rm_member_talks (
        member_id TEXT NOT NULL, version INTEGER NOT NULL, effective_date TEXT NOT NULL,
        held_by TEXT NOT NULL, late INTEGER NOT NULL,
        PRIMARY KEY (member_id, version))""",
    """CREATE TABLE IF NOT EXISTS rm_member_opinions (
        member_id TEXT NOT NULL, version INTEGER NOT NULL, effective_date TEXT NOT NULL,
        community_id TEXT NOT NULL, favourable INTEGER NOT NULL,
        PRIMARY KEY (member_id, version))""",
    """CREATE TABLE IF NOT EXISTS rm_admission_exceptions (
        member_id TEXT NOT NULL, version INTEGER NOT NULL, effective_date TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (member_id, version))""",
    # organisation_id: the organisation an event concerns (the member's formal one after
    # the event, or the organisation itself), so one trail serves both.
    """CREATE TABLE IF NOT EXISTS rm_audit (
        aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, aggregate_kind TEXT NOT NULL,
        event_type TEXT NOT NULL, effective_date TEXT NOT NULL, recorded_at TEXT NOT NULL,
        request_id TEXT, source_system TEXT, store_position INTEGER, payload TEXT NOT NULL,
        organisation_id TEXT,
        PRIMARY KEY (aggregate_id, version))""",
    # A member's (or organisation's) trail pages are ranges of the primary key: an
    # aggregate's events are recorded in version order (queries.trail_page).
    """CREATE INDEX IF NOT EXISTS rm_audit_organisation_trail
        ON rm_audit (organisation_id, recorded_at, aggregate_id, version)""",
    # Highest version applied per aggregate: the exactly-once check.
    """CREATE TABLE IF NOT EXISTS rm_versions (
        aggregate_id TEXT PRIMARY KEY, version INTEGER NOT NULL)""",
    # Kafka positions, committed with the read-model changes they caused.
    """CREATE TABLE IF NOT EXISTS rm_offsets (
        consumer TEXT NOT NULL, topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL,
        epoch INTEGER NOT NULL, next_offset INTEGER NOT NULL, last_event_id TEXT,
        PRIMARY KEY (consumer, topic, kafka_partition))""",
    """CREATE TABLE IF NOT EXISTS rm_undecodable (
        topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, record_offset INTEGER NOT NULL,
        epoch INTEGER NOT NULL, reason TEXT NOT NULL,
        PRIMARY KEY (topic, kafka_partition, record_offset, epoch))""",
    # Per organisation, the current rollup of its whole subtree (PostgreSQL keeps it with
    # triggers, see projections/rollup_counts.py; SQLite leaves it empty): a district's
    # rollup reads its few hundred rows by primary key instead of ~60,000 member rows.
    rollup_counts.TABLE_DDL,
    rollup_counts.DELTAS_DDL,
    rollup_counts.PENDING_DDL,
]


# The members counted per organisation, by engine.
# SQLite's rollup reads the member rows: the subtree is resolved first to a few hundred
# organisation ids (queries._base), then `organisation_id IN (...) AND status = 'ACTIVE'`
# is a range per id on an index that holds every column the rollup groups by, so the
# wide rows are never read.
# PostgreSQL's current rollup reads its counters (rollup_counts.py), so that wide index
# served nothing there but cost every insert and update of a member a 10-column entry
# (an UPDATE of 3,300 members: 90 ms with it, 66 ms with the narrow one below). The
# narrow one keeps the compliance counts per organisation and stage index-only.
MEMBERS_COUNTED_DDL = {
    "sqlite": """CREATE INDEX IF NOT EXISTS rm_members_rollup
        ON rm_members (organisation_id, status, stage, sex, birth_date, ethnicity,
                       education, occupation, admitted_on, full_since)""",
    "postgres": """CREATE INDEX IF NOT EXISTS rm_members_counted
        ON rm_members (organisation_id, status, stage)""",
}

# Indexes earlier versions made that nothing reads any more: dropped where found, so an
# existing read model stops paying for them at every event.
RETIRED_INDEXES = {
    "sqlite": ("rm_audit_member_trail",),  # trails by version (queries.trail_page)
    "postgres": ("rm_audit_member_trail", "rm_members_rollup"),
}

# A bulk load into empty tables (a rebuild, the bench's city) creates the tables with
# their primary keys only, fills them, then builds these and the rollup counters once:
# one sort per index instead of an index insertion per row, one aggregate instead of
# the counters' triggers per statement.
TABLES_DDL = [s for s in DDL if s.lstrip().startswith("CREATE TABLE")]


def indexes_ddl(dialect: str) -> list[str]:
    """The secondary indexes of an engine's read model."""
    return [*(s for s in DDL if s not in TABLES_DDL), MEMBERS_COUNTED_DDL[dialect]]

# Tables the load only ever appends to (nothing reads them by key until the read model
# is live; a rebuild's loading workers fold members in memory, apply/loading.py): a bulk
# load on PostgreSQL leaves out their primary keys too and adds them at the finish, one
# sort each. At a city's size these are the biggest indexes (~16 million history rows,
# ~5 million audit rows), and inserted in member-id order, i.e. at random pages: once
# larger than the server's buffer cache, nearly every row read a page in and wrote
# another out.
KEYED_AFTER_LOAD = {"rm_audit": "(aggregate_id, version)",
                    "rm_movements": "(member_id, version, kind)",
                    "rm_member_history": "(member_id, attribute, version)"}  # fmt: skip


# On PostgreSQL, text columns compare byte by byte (COLLATE "C"): ids, codes, ISO dates
# and the vocabulary's words, whose order a locale would not change. Under a locale's
# collation (even C.UTF-8 before PostgreSQL 17) every comparison calls strcoll and sorts
# get no abbreviated keys: an index build on a 5,000,000-row (member, attribute,
# version) key took 8.1 s against 4.0 s bytewise, and a city's rebuild builds several.
# Names keep the database's collation (lists show them in its order), and so does
# rm_offsets, which a rebuild joins with an earlier generation's, maybe made before
# this (rebuild.try_switch): equality across two collations works, ordering would not.
_LOCALE_COLUMNS = ("name",)
_LOCALE_TABLES = ("rm_offsets",)


def _bytewise(statement: str) -> str:
    if _table_of(statement) in _LOCALE_TABLES:
        return statement
    kept = "|".join(_LOCALE_COLUMNS)
    return re.sub(rf"\b(?!(?:{kept})\b)(\w+) TEXT\b", r'\1 TEXT COLLATE "C"', statement)


def _table_of(statement: str) -> str:
    return statement.split("EXISTS", 1)[1].split()[0]


def _without_primary_key(statement: str) -> str:
    table = _table_of(statement)
    key = KEYED_AFTER_LOAD.get(table)
    if key is None:
        return statement
    clause = f",\n        PRIMARY KEY {key})"
    if clause not in statement:
        raise AssertionError(f"{table}: primary key {key} not found in its DDL")
    return statement.replace(clause, ")")


def create_tables(db: Database, generation: int | None = None, *, bare: bool = False) -> None:
    """The tables of one generation (default: the live one); `bare`: only the tables and
    the primary keys a load reads by (on PostgreSQL, KEYED_AFTER_LOAD's come later), for
    a bulk load that finish_tables completes."""
    with db.transaction(generation=generation) as cur:
        db.lock_ddl(cur)
        for statement in TABLES_DDL if bare else TABLES_DDL + indexes_ddl(db.dialect):
            if db.dialect == "postgres" and statement in TABLES_DDL:
                statement = _bytewise(statement)
                if bare:
                    statement = _without_primary_key(statement)
            cur.execute(statement)
        if not bare:
            for index in RETIRED_INDEXES[db.dialect]:
                cur.execute(f"DROP INDEX IF EXISTS {index}")
            if db.dialect == "postgres":
                rollup_counts.install(cur)


def _on_table(statement: str) -> str:
    return statement.split(" ON ", 1)[1].split()[0]


# Built with the rollup counters: counting locks these tables against writers, which an
# index build (a reader) on another connection would hold off until its commit.
_COUNTED_TABLES = ("rm_members", "rm_organisations")
# And these, so that both connections have about as much to do (a city: ~33 s of member
# indexes and count alone against ~62 s of keys and other indexes, 10-14 s of them the
# timeline's). Not a table whose key the other connection adds: ALTER TABLE holds its
# lock until that connection commits, at its end (seen: an index on rm_movements
# waited 35 s).
_BESIDE_THE_COUNT = ("rm_member_timeline",)


def finish_tables(db: Database, generation: int, *, helper: Database | None = None) -> None:
    """Completes a generation made bare and loaded: its secondary indexes, and its rollup
    counters counted from the rows (with the triggers that keep them from here on, as
    create_tables leaves a live read model). `helper`: a second connection (PostgreSQL)
    that builds the other tables' indexes meanwhile: the count runs in one server
    process, and so does an index build on a small machine."""
    indexes = indexes_ddl(db.dialect)
    counted = [s for s in indexes if _on_table(s) in _COUNTED_TABLES + _BESIDE_THE_COUNT]
    others = [s for s in indexes if s not in counted]
    if db.dialect == "postgres":
        keys = [f"ALTER TABLE {t} ADD PRIMARY KEY {k}" for t, k in KEYED_AFTER_LOAD.items()]
        others = [*keys, *others]
    if helper is None or db.dialect != "postgres":
        _finish(db, generation, [*counted, *others], count=True)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="finish") as pool:
        built = pool.submit(_finish, helper, generation, others, count=False)
        _finish(db, generation, counted, count=True)
        built.result()


def _finish(db: Database, generation: int, indexes: list[str], *, count: bool) -> None:
    with db.transaction(generation=generation) as cur:
        if db.dialect == "postgres":
            # A city's index builds sort millions of entries, and the count hashes a
            # million member rows: in memory rather than through temporary files (the
            # defaults, 64 and 4 MB, suit the many small statements of a live projector).
            cur.execute("SET LOCAL maintenance_work_mem = '512MB'")
            cur.execute("SET LOCAL work_mem = '256MB'")
        for statement in indexes:
            started = time.monotonic()
            cur.execute(statement)
            log.info("%s: %.1f s", " ".join(statement.split()[:6]), time.monotonic() - started)
        if db.dialect == "postgres" and count:
            started = time.monotonic()
            rollup_counts.install(cur)
            log.info("rollup counters counted: %.1f s", time.monotonic() - started)


def analyze_tables(db: Database, generation: int) -> None:
    """Planner statistics for a generation loaded in bulk, before anything queries it
    (autovacuum would get there, but later). Each table is sampled (30,000 rows at the
    default statistics target), so this takes about as long for a city as for a town."""
    if db.dialect != "postgres":
        return
    with db.transaction(generation=generation) as cur:
        for table in TABLES:
            cur.execute(f"ANALYZE {table}")


def drop_tables(db: Database, generation: int) -> None:
    with db.transaction(generation=generation) as cur:
        for table in TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        if db.dialect == "postgres":
            rollup_counts.drop(cur)
