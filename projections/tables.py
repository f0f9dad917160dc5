"""The read-model tables. Dates are ISO text in both engines, so they sort and compare
the same way everywhere."""

from __future__ import annotations

from projections.database import Database

DDL = [
    """CREATE TABLE IF NOT EXISTS rm_organisations (
        id TEXT PRIMARY KEY, code TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
        level TEXT NOT NULL, parent_id TEXT, established_on TEXT NOT NULL,
        registration_number TEXT, supervising_body TEXT)""",
    "CREATE INDEX IF NOT EXISTS rm_organisations_parent ON rm_organisations (parent_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS rm_organisations_code ON rm_organisations (code)",
    """CREATE TABLE IF NOT EXISTS rm_members (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, sex TEXT NOT NULL, birth_date TEXT NOT NULL,
        ethnicity TEXT NOT NULL, education TEXT NOT NULL, occupation TEXT NOT NULL,
        organisation_id TEXT NOT NULL, stage TEXT NOT NULL, stage_since TEXT NOT NULL,
        applied_on TEXT NOT NULL, transfer_to TEXT, transfer_letter TEXT,
        transfer_valid_until TEXT)""",
    "CREATE INDEX IF NOT EXISTS rm_members_org ON rm_members (organisation_id, name)",
    # One row per change of one attribute, so "as of" folds attributes independently
    # and changes that arrive late land in their place by effective date.
    """CREATE TABLE IF NOT EXISTS rm_member_history (
        member_id TEXT NOT NULL, version INTEGER NOT NULL, attribute TEXT NOT NULL,
        effective_date TEXT NOT NULL, value TEXT,
        PRIMARY KEY (member_id, attribute, version))""",
    """CREATE INDEX IF NOT EXISTS rm_member_history_asof
        ON rm_member_history (attribute, effective_date)""",
    """CREATE TABLE IF NOT EXISTS rm_audit (
        aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, aggregate_kind TEXT NOT NULL,
        event_type TEXT NOT NULL, effective_date TEXT NOT NULL, recorded_at TEXT NOT NULL,
        request_id TEXT, source_system TEXT, store_position INTEGER, payload TEXT NOT NULL,
        PRIMARY KEY (aggregate_id, version))""",
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
]


def create_tables(db: Database) -> None:
    with db.transaction() as cur:
        for statement in DDL:
            cur.execute(statement)
