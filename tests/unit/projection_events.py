"""Decoded events as the projector receives them, and a read-model database fixture on
SQLite and PostgreSQL, for the projection tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projections.apply import apply_event
from projections.database import Database
from projections.tables import create_tables
from registry.config import Settings
from tests.conftest import DATABASE_URL

SOURCE = "unit-system"


@pytest.fixture(params=["sqlite", "postgres"], name="db")
def db_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """Fresh read-model tables on SQLite and on PostgreSQL (a schema of its own)."""
    url = None
    if request.param == "postgres":
        schema = request.getfixturevalue("pg_schema")
        url = f"{DATABASE_URL}{'&' if '?' in DATABASE_URL else '?'}schema={schema}"
    database = Database(Settings(data_dir=tmp_path / "data", database_url=url))
    create_tables(database)
    yield database
    database.close()


def oid(code: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"org:{code}")


def mid(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"member:{name}")


class Feed:
    """Numbers each aggregate's events and records them one second apart."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.versions: dict[uuid.UUID, int] = {}
        self.clock = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self.position = 0
        self.records: list[tuple[str, dict[str, Any], int]] = []

    def event(
        self, event_name: str, aggregate: uuid.UUID, day: date, **fields: Any
    ) -> dict[str, Any]:
        version = self.versions.get(aggregate, 0) + 1
        self.versions[aggregate] = version
        self.clock += timedelta(seconds=1)
        self.position += 1
        record = {
            "event_id": f"{aggregate}:{version}",
            "aggregate_id": aggregate,
            "version": version,
            "effective_date": day,
            "recorded_at": self.clock,
            "request_id": f"r{self.position}",
            "source_system": SOURCE,
            **fields,
        }
        self.records.append((f"registry.events.{event_name}", record, self.position))
        return record

    def apply(self, event_name: str, aggregate: uuid.UUID, day: date, **fields: Any) -> bool:
        record = self.event(event_name, aggregate, day, **fields)
        with self.db.transaction() as cur:
            return apply_event(cur, f"registry.events.{event_name}", record, self.position)

    # -- shorthands -------------------------------------------------------------

    def establish(
        self, code: str, level: str, parent: str | None, kind: str = "BRANCH", **extra: Any
    ) -> None:
        self.apply(
            "OrganisationEstablished",
            oid(code),
            date(2020, 1, 1),
            code=code,
            name=f"org {code}",
            kind=kind,
            level=level,
            parent_id=oid(parent) if parent else None,
            registration_number=extra.get("registration_number"),
            supervising_body=None,
        )

    def city(self) -> None:
        """SH → XH, PD → XH-S1, PD-S1 → two communities and a unit each."""
        self.establish("SH", "CITY", None, "COMMITTEE")
        for d in ("XH", "PD"):
            self.establish(d, "DISTRICT", "SH", "COMMITTEE")
            self.establish(f"{d}-S1", "STREET", d, "COMMITTEE")
            for c in ("C1", "C2", "U1"):
                level = "UNIT" if c == "U1" else "COMMUNITY"
                self.establish(f"{d}-S1-{c}", level, f"{d}-S1")

    def applicant(
        self,
        name: str,
        org: str,
        day: date = date(2021, 3, 1),
        sex: str = "MALE",
        birth: date = date(1990, 5, 20),
    ) -> uuid.UUID:
        member = mid(name)
        self.apply(
            "MemberApplied",
            member,
            day,
            name=name,
            sex=sex,
            birth_date=birth,
            ethnicity="汉族",
            education="本科",
            occupation="教师",
            organisation_id=oid(org),
        )
        return member

    def full_member(
        self,
        name: str,
        org: str,
        admitted: date = date(2023, 6, 1),
        approver: str = "XH-S1",
        **kw: Any,
    ) -> uuid.UUID:
        member = self.applicant(name, org, **kw)
        self.apply("MemberActivistAdmitted", member, date(2021, 6, 1), decided_by=oid(org))
        self.apply("MemberDevelopmentTargetAdmitted", member, date(2022, 7, 1), decided_by=oid(org))
        self.probationary(member, org, admitted, approver)
        ends = admitted.replace(year=admitted.year + 1)
        self.apply(
            "MemberConverted",
            member,
            ends,
            decided_by=oid(org),
            approved_by=oid(approver),
            approved_on=ends,
            full_since=ends,
        )
        return member

    def probationary(self, member: uuid.UUID, org: str, day: date, approver: str) -> None:
        self.apply(
            "MemberProbationaryAdmitted",
            member,
            day,
            decided_by=oid(org),
            approved_by=oid(approver),
            approved_on=day + timedelta(days=20),
            delay_reason=None,
            sponsor_ids=[],
            probation_ends_on=day.replace(year=day.year + 1),
        )
