"""A seeded, streaming generator of a big city, loaded straight into the read-model
tables (projections/tables.py) with COPY, in bounded memory.

Shape: the city → districts → streets → communities and units; members spread over the
branches at every stage of the pipeline, about 1 % in transit; one history row per
attribute change and one audit row per event, as the projector would have written them.
Rows are made one member at a time and streamed into four COPYs at once, so memory
does not grow with the size of the city.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bench.env import connect
from projections.tables import DDL
from registry.city import EDUCATION, ETHNICITIES, GIVEN, OCCUPATIONS, SURNAMES

STAGES = ("APPLICANT", "ACTIVIST", "DEVELOPMENT_TARGET", "PROBATIONARY", "FULL")
STAGE_WEIGHTS = (10, 10, 8, 7, 65)  # most members are full members
EVENT_OF_STAGE = {
    "ACTIVIST": "MemberActivistAdmitted",
    "DEVELOPMENT_TARGET": "MemberDevelopmentTargetDesignated",
    "PROBATIONARY": "MemberProbationaryAdmitted",
    "FULL": "MemberConfirmedFull",
}
CITY = "SH"
TODAY = date(2025, 6, 30)
NAMESPACE = uuid.UUID("b7e1d0c4-2a9f-4c1e-9d3b-6a5f0e7c8b21")


@dataclass(frozen=True)
class CityShape:
    members: int
    districts: int
    streets_per_district: int
    communities_per_street: int = 8
    units_per_street: int = 4

    @classmethod
    def for_members(cls, members: int) -> CityShape:
        """About 500 members per branch, twelve branches per street, ten streets per district."""
        branches = max(1, members // 500)
        streets = max(1, branches // 12)
        districts = max(1, streets // 10)
        return cls(members, districts, max(1, streets // districts))


@dataclass(frozen=True)
class Loaded:
    members: int
    history_rows: int
    audit_rows: int
    organisations: int
    seconds: float
    branches: list[str]
    districts: list[str]


def _org_id(code: str) -> str:
    return str(uuid.uuid5(NAMESPACE, code))


def organisations(shape: CityShape) -> Iterator[tuple[Any, ...]]:
    """(id, code, name, kind, level, parent_id, established_on, reg no, supervisor)."""
    established = "2000-01-01"
    yield (_org_id(CITY), CITY, "市委", "COMMITTEE", "CITY", None, established, None, None)
    for d in range(shape.districts):
        dcode = f"{CITY}-D{d:02d}"
        yield (_org_id(dcode), dcode, f"第{d}区委", "COMMITTEE", "DISTRICT", _org_id(CITY),
               established, None, None)
        for s in range(shape.streets_per_district):
            scode = f"{dcode}-S{s:02d}"
            yield (_org_id(scode), scode, f"第{d}区第{s}街道党工委", "COMMITTEE", "STREET",
                   _org_id(dcode), established, None, None)
            for c in range(shape.communities_per_street):
                code = f"{scode}-C{c}"
                yield (_org_id(code), code, f"{scode}第{c}社区党支部", "BRANCH", "COMMUNITY",
                       _org_id(scode), established, None, None)
            for u in range(shape.units_per_street):
                code = f"{scode}-U{u}"
                yield (_org_id(code), code, f"{scode}第{u}单位党支部", "BRANCH", "UNIT",
                       _org_id(scode), established, f"91310{d:02d}{s:02d}{u}MA1",
                       "区市场监督管理局")


def _iso(day: date) -> str:
    return day.isoformat()


class _Member:
    """One member's rows: the member, its history, its audit trail and its version."""

    def __init__(self, rng: random.Random, i: int, branches: list[str]) -> None:
        self.id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        home = branches[i % len(branches)]
        stage_index = rng.choices(range(len(STAGES)), weights=STAGE_WEIGHTS)[0]
        applied = TODAY - timedelta(days=rng.randrange(30, 365 * 30))
        birth = applied - timedelta(days=rng.randrange(365 * 18, 365 * 60))
        day, version = applied, 1
        self.history: list[tuple[Any, ...]] = [
            (self.id, 1, "organisation", _iso(applied), _org_id(home)),
            (self.id, 1, "stage", _iso(applied), "APPLICANT"),
        ]
        self.audit: list[tuple[Any, ...]] = [self._audit(1, "MemberApplied", applied, i)]
        for stage in STAGES[1 : stage_index + 1]:
            step = max(1, (TODAY - day).days // 4)
            day = min(TODAY, day + timedelta(days=rng.randrange(1, step + 1)))
            version += 1
            self.history.append((self.id, version, "stage", _iso(day), stage))
            self.audit.append(self._audit(version, EVENT_OF_STAGE[stage], day, i))
        organisation = home
        transfer: tuple[str, str, str] | None = None
        move = rng.random()
        if move < 0.05:  # moved once, in the past
            organisation = branches[rng.randrange(len(branches))]
            day = min(TODAY, day + timedelta(days=rng.randrange(1, 60)))
            for event, attribute, value in (
                ("MemberTransferStarted", "in_transit_to", _org_id(organisation)),
                ("MemberTransferAccepted", "organisation", _org_id(organisation)),
            ):
                version += 1
                self.history.append((self.id, version, attribute, _iso(day), value))
                self.audit.append(self._audit(version, event, day, i))
        elif move < 0.06:  # in transit now: still counted at the sender
            to = branches[rng.randrange(len(branches))]
            version += 1
            self.history.append((self.id, version, "in_transit_to", _iso(TODAY), _org_id(to)))
            self.audit.append(self._audit(version, "MemberTransferStarted", TODAY, i))
            transfer = (_org_id(to), f"L-{i}", _iso(TODAY + timedelta(days=90)))
        self.version = version
        sex = "MALE" if rng.random() < 0.5 else "FEMALE"
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        self.row = (
            self.id, name, sex, _iso(birth), rng.choice(ETHNICITIES), rng.choice(EDUCATION),
            rng.choice(OCCUPATIONS), _org_id(organisation), STAGES[stage_index], _iso(day),
            _iso(applied), *(transfer or (None, None, None)),
        )

    def _audit(self, version: int, event: str, day: date, i: int) -> tuple[Any, ...]:
        payload = {"aggregate_id": self.id, "version": version, "effective_date": _iso(day)}
        return (self.id, version, "Member", event, _iso(day), f"{_iso(day)}T09:00:00+00:00",
                f"gen-{i}-{version}", "citygen", None, json.dumps(payload))


COPIES = {
    "rm_members": "id, name, sex, birth_date, ethnicity, education, occupation, organisation_id,"
    " stage, stage_since, applied_on, transfer_to, transfer_letter, transfer_valid_until",
    "rm_member_history": "member_id, version, attribute, effective_date, value",
    "rm_audit": "aggregate_id, version, aggregate_kind, event_type, effective_date, recorded_at,"
    " request_id, source_system, store_position, payload",
    "rm_versions": "aggregate_id, version",
}
ORG_COLUMNS = ("id, code, name, kind, level, parent_id, established_on, registration_number,"
               " supervising_body")


def load_city(schema: str, members: int, seed: int = 20250630) -> Loaded:
    """Creates the read-model tables in `schema` and fills them; indexes come after."""
    started = time.perf_counter()
    shape = CityShape.for_members(members)
    tables = [s for s in DDL if "CREATE TABLE" in s]
    indexes = [s for s in DDL if "CREATE TABLE" not in s]
    with connect(schema) as conn:
        for statement in tables:
            conn.execute(statement)
        with conn.cursor().copy(f"COPY rm_organisations ({ORG_COLUMNS}) FROM STDIN") as copy:
            orgs = list(organisations(shape))
            for row in orgs:
                copy.write_row(row)
    branches = [o[1] for o in orgs if o[4] in ("COMMUNITY", "UNIT")]
    history = audit = 0
    rng = random.Random(seed)
    conns = {table: connect(schema) for table in COPIES}
    try:
        cursors = {t: c.cursor() for t, c in conns.items()}
        copies = {
            t: cursors[t].copy(f"COPY {t} ({cols}) FROM STDIN") for t, cols in COPIES.items()
        }
        writers = {t: cm.__enter__() for t, cm in copies.items()}
        try:
            for i in range(members):
                member = _Member(rng, i, branches)
                writers["rm_members"].write_row(member.row)
                for row in member.history:
                    writers["rm_member_history"].write_row(row)
                for row in member.audit:
                    writers["rm_audit"].write_row(row)
                writers["rm_versions"].write_row((member.id, member.version))
                history += len(member.history)
                audit += len(member.audit)
        finally:
            for cm in copies.values():
                cm.__exit__(None, None, None)
    finally:
        for conn in conns.values():
            conn.close()
    with connect(schema) as conn:
        for statement in indexes:
            conn.execute(statement)
        conn.execute("ANALYZE")
    districts = [o[1] for o in orgs if o[4] == "DISTRICT"]
    return Loaded(members, history, audit, len(orgs), time.perf_counter() - started,
                  branches, districts)
