"""A seeded, streaming generator of a big city, loaded straight into one generation of
the read-model tables with COPY, in bounded memory, as the projector would leave them.

Two halves:
- events: the city as the decoded event records the projector receives. Organisations
  are established first; then each member lives up to 25 years: the application, the
  stages (activist, development target, probationary, full), transfers between branches
  (most within the district; some in transit now, some refused), correction and party
  probation, community registrations, exits (withdrawn, died, removed, expelled,
  probation cancelled) and a few new applications after a withdrawal;
- rows: what projections.apply writes for those events (rm_members, rm_member_history,
  the rm_member_timeline intervals the as-of queries read, rm_movements, rm_audit,
  rm_versions, the organisations and their history), worked out member by member in
  Python, and the generation pointer naming the generation loaded.

tests/bench/test_citygen.py applies the same events through projections.apply.apply_event
and requires identical tables and query answers, so this mirror of the projector cannot
drift from it silently: a projector change that the mirror does not follow fails there.

Members come in chunks of CHUNK, each with a seed of its own, so the city does not depend
on how many worker processes load it; each worker streams its chunks into one COPY per
table, one member in memory at a time. Secondary indexes are built after the load, then
the tables are vacuumed and analysed (as autovacuum would leave a live read model).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from projections.apply.common import plain
from projections.apply.timeline import COLUMNS as TIMELINE_COLUMNS
from projections.apply.timeline import timeline_rows
from projections.database import POINTER_TABLE, Database, table_name
from projections.tables import create_tables, finish_tables
from registry.city import EDUCATION, ETHNICITIES, GIVEN, OCCUPATIONS, SURNAMES
from registry.config import Settings

Record = dict[str, Any]
Event = tuple[str, Record]  # (short event name, decoded record)

CITY = "SH"
TODAY = date(2026, 6, 30)  # the city's "now": no effective date lies after it
ESTABLISHED = date(1995, 1, 1)
SOURCE = "citygen"
NAMESPACE = uuid.UUID("b7e1d0c4-2a9f-4c1e-9d3b-6a5f0e7c8b21")
CHUNK = 10_000  # members per seed and per unit of work
POSITIONS_PER_MEMBER = 64  # store positions reserved per member (never more events)
STAGE_WEIGHTS = (10, 10, 8, 7, 65)  # furthest stage aimed at: most become full members


# -- the organisations ---------------------------------------------------------


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
class Branch:
    id: uuid.UUID
    code: str
    level: str  # COMMUNITY or UNIT
    street: uuid.UUID  # approves admissions and conversions
    district: int


def org_id(code: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, code)


def _specs(shape: CityShape) -> Iterator[tuple[str, str, str, str, str | None, str | None,
                                               str | None]]:
    """(code, name, kind, level, parent code, registration number, supervising body)."""
    yield CITY, "市委", "COMMITTEE", "CITY", None, None, None
    for d in range(shape.districts):
        dcode = f"{CITY}-D{d:02d}"
        yield dcode, f"第{d}区委", "COMMITTEE", "DISTRICT", CITY, None, None
        for s in range(shape.streets_per_district):
            scode = f"{dcode}-S{s:02d}"
            yield scode, f"第{d}区第{s}街道党工委", "COMMITTEE", "STREET", dcode, None, None
            for c in range(shape.communities_per_street):
                yield (f"{scode}-C{c}", f"{scode}第{c}社区党支部", "BRANCH", "COMMUNITY", scode,
                       None, None)
            for u in range(shape.units_per_street):
                yield (f"{scode}-U{u}", f"{scode}第{u}单位党支部", "BRANCH", "UNIT", scode,
                       f"91310{d:02d}{s:02d}{u}MA1", "区市场监督管理局")


def branches_of(shape: CityShape) -> list[Branch]:
    return [
        Branch(org_id(code), code, level, org_id(parent or ""), int(code.split("-")[1][1:]))
        for code, _, _, level, parent, _, _ in _specs(shape)
        if level in ("COMMUNITY", "UNIT")
    ]


def districts_of(shape: CityShape) -> list[str]:
    return [code for code, _, _, level, *_ in _specs(shape) if level == "DISTRICT"]


def _record(aggregate: uuid.UUID, version: int, day: date, request_id: str, lag_days: int = 0,
            /, **fields: Any) -> Record:
    recorded = datetime(day.year, day.month, day.day, 9, tzinfo=UTC) + timedelta(days=lag_days)
    return {"event_id": f"{aggregate}:{version}", "aggregate_id": aggregate, "version": version,
            "effective_date": day, "recorded_at": recorded, "request_id": request_id,
            "source_system": SOURCE, **fields}


def organisation_events(shape: CityShape) -> Iterator[Event]:
    for code, name, kind, level, parent, registration, supervisor in _specs(shape):
        yield "OrganisationEstablished", _record(
            org_id(code), 1, ESTABLISHED, f"org-{code}", 0, code=code, name=name, kind=kind,
            level=level, parent_id=org_id(parent) if parent else None,
            registration_number=registration, supervising_body=supervisor)


# -- the members' lives ----------------------------------------------------------


def _days(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(days=rng.randrange(low, high))


def _pick(rng: random.Random, branches: list[Branch], by_district: dict[int, list[Branch]],
          current: Branch) -> Branch:
    """Another branch: mostly in the same district."""
    pool = by_district[current.district] if rng.random() < 0.7 else branches
    choice = pool[rng.randrange(len(pool))]
    return choice if choice.id != current.id else branches[rng.randrange(len(branches))]


class _Life:
    """One member's events in version order, effective dates never going backwards."""

    def __init__(self, i: int, rng: random.Random) -> None:
        self.i = i
        self.rng = rng
        self.id = uuid.UUID(int=rng.getrandbits(128), version=4)
        self.events: list[Event] = []
        self.day = TODAY

    def add(self, name: str, day: date, /, **fields: Any) -> None:
        version = len(self.events) + 1
        self.day = day
        lag = 0 if self.rng.random() < 0.9 else self.rng.randrange(1, 30)
        self.events.append((name, _record(self.id, version, day, f"city-{self.i}-{version}",
                                          lag, **fields)))


def member_events(i: int, rng: random.Random, branches: list[Branch],
                  by_district: dict[int, list[Branch]]) -> list[Event]:
    """Member i's events, drawn from `rng` (the chunk's generator)."""
    life = _Life(i, rng)
    home = branches[i % len(branches)]
    applied = TODAY - _days(rng, 20, 365 * 25)
    birth = applied - _days(rng, 365 * 18, 365 * 45)
    person = {"name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
              "ethnicity": rng.choice(ETHNICITIES), "education": rng.choice(EDUCATION),
              "occupation": rng.choice(OCCUPATIONS)}
    life.add("MemberApplied", applied, sex="MALE" if rng.random() < 0.5 else "FEMALE",
             birth_date=birth, organisation_id=home.id, **person)

    # What happens, by date: (day, rank on the same day, kind, detail).
    plan: list[tuple[date, int, str, Any]] = []
    target = rng.choices(range(5), weights=STAGE_WEIGHTS)[0]
    day = applied
    full_since: date | None = None
    for stage, (low, high) in enumerate(((60, 400), (365, 700), (200, 500), (365, 366)),
                                        start=1):
        if stage > target:
            break
        day = day + _days(rng, low, high)
        if day > TODAY:
            break
        plan.append((day, 0, "stage", stage))
        if stage == 4:
            full_since = day
    if full_since is not None:
        r = rng.random()
        if r < 0.015:
            plan.append((full_since + _days(rng, 30, 3000), 1, "correction", None))
        elif r < 0.025:
            plan.append((full_since + _days(rng, 30, 3000), 1, "party probation", None))
        if rng.random() < 0.04:
            plan.append((full_since + _days(rng, 1, 4000), 1, "community", None))
    span = (TODAY - applied).days
    transfers = rng.choices((0, 1, 2, 3), weights=(80, 15, 4, 1))[0]
    for _ in range(transfers):
        start = applied + timedelta(days=rng.randrange(1, span + 1))
        plan.append((start, 2, "transfer", "accept" if rng.random() < 0.97 else "refuse"))
    if rng.random() < 0.01:  # in transit now: still counted at the sender
        start = TODAY - _days(rng, 0, 60)
        if start > applied:
            plan.append((start, 2, "transfer", "open"))
    exit_day = None
    if rng.random() < 0.06:
        exit_day = applied + timedelta(days=rng.randrange(1, span + 1))
        plan.append((exit_day, 3, "exit", None))
    plan.sort(key=lambda p: (p[0], p[1]))

    organisation = home
    stage = 0
    in_transit = False
    for day, _, kind, detail in plan:
        if day < life.day or day > TODAY:
            continue  # a step pushed past another's date: dropped
        if kind == "stage":
            if in_transit:
                continue
            stage = detail
            _stage_event(life, stage, day, organisation)
        elif kind == "transfer":
            if in_transit:
                continue
            to = _pick(rng, branches, by_district, organisation)
            letter = f"L{life.i}-{len(life.events)}"
            moved = {"letter_number": letter, "from_organisation_id": organisation.id,
                     "to_organisation_id": to.id}
            life.add("MemberTransferStarted", day, valid_until=day + timedelta(days=90), **moved)
            end = day + _days(rng, 5, 40)
            if detail == "open" or end > TODAY or (exit_day and end >= exit_day):
                in_transit = True
            elif detail == "refuse":
                life.add("MemberTransferRefused", end, reason="接收方不同意", **moved)
            else:
                life.add("MemberTransferAccepted", end, **moved)
                organisation = to
        elif kind in ("correction", "party probation") and stage == 4:
            until = day + timedelta(days=365 if kind == "party probation" else 180)
            started, ended = (("MemberCorrectionOrdered", "MemberCorrectionEnded")
                              if kind == "correction"
                              else ("MemberPartyProbationImposed", "MemberPartyProbationEnded"))
            life.add(started, day, decided_by=organisation.id, until=until)
            if until <= TODAY and (exit_day is None or until < exit_day):
                life.add(ended, until)
        elif kind == "community" and stage == 4:
            pool = [b for b in by_district[organisation.district] if b.level == "COMMUNITY"]
            community = pool[rng.randrange(len(pool))]
            life.add("MemberCommunityRegistered", day, community_id=community.id)
        elif kind == "exit":
            _exit_event(life, stage, day, organisation)
            if stage < 3 and rng.random() < 0.2 and day < TODAY - timedelta(days=30):
                # Withdrew as an applicant or activist, applied again later elsewhere.
                again = day + _days(rng, 1, max(2, (TODAY - day).days))
                organisation = _pick(rng, branches, by_district, organisation)
                life.add("MemberReapplied", again, episode=2, organisation_id=organisation.id,
                         **person)
            break
    return life.events


def _stage_event(life: _Life, stage: int, day: date, organisation: Branch) -> None:
    if stage == 1:
        life.add("MemberActivistAdmitted", day, decided_by=organisation.id)
    elif stage == 2:
        life.add("MemberDevelopmentTargetAdmitted", day, decided_by=organisation.id)
    elif stage == 3:
        life.add("MemberProbationaryAdmitted", day, decided_by=organisation.id,
                 approved_by=organisation.street, approved_on=day + timedelta(days=20),
                 delay_reason=None, sponsor_ids=[], probation_ends_on=_year_after(day),
                 exception_reason=None)
    else:
        life.add("MemberConverted", day, decided_by=organisation.id,
                 approved_by=organisation.street, approved_on=day, full_since=day)


def _exit_event(life: _Life, stage: int, day: date, organisation: Branch) -> None:
    decided = {"decided_by": organisation.id}
    approved = {**decided, "approved_by": organisation.street, "approved_on": day}
    if stage < 3:
        life.add("MemberWithdrawn", day, reason="本人申请")
    elif stage == 3:
        life.add("MemberProbationCancelled", day, reason="预备期不合格", **approved)
    else:
        r = life.rng.random()
        if r < 0.6:
            life.add("MemberDied", day)
        elif r < 0.75:
            life.add("MemberWithdrawn", day, reason=None)
        elif r < 0.9:
            life.add("MemberRemoved", day, reason="除名", **decided)
        else:
            life.add("MemberExpelled", day, reason="开除党籍", **approved)


def _year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _chunk_members(chunk: int, shape: CityShape, seed: int, branches: list[Branch],
                   by_district: dict[int, list[Branch]]) -> Iterator[tuple[int, list[Event]]]:
    rng = random.Random(seed * 1_000_003 + chunk)
    for i in range(chunk * CHUNK, min(shape.members, (chunk + 1) * CHUNK)):
        yield i, member_events(i, rng, branches, by_district)


def _by_district(branches: list[Branch]) -> dict[int, list[Branch]]:
    grouped: dict[int, list[Branch]] = {}
    for b in branches:
        grouped.setdefault(b.district, []).append(b)
    return grouped


def events(shape: CityShape, seed: int) -> Iterator[tuple[Event, int]]:
    """The whole city as (event, store position), in the order the projector applies it."""
    for position, event in enumerate(organisation_events(shape), start=1):
        yield event, position
    yield from member_events_of_chunks(shape, seed, range((shape.members + CHUNK - 1) // CHUNK))


def member_events_of_chunks(shape: CityShape, seed: int, chunks: Iterable[int]
                            ) -> Iterator[tuple[Event, int]]:
    """The members of these chunks as (event, store position), member by member."""
    branches = branches_of(shape)
    by_district = _by_district(branches)
    base = _member_position_base(shape)
    for chunk in chunks:
        for i, member in _chunk_members(chunk, shape, seed, branches, by_district):
            for name, record in member:
                yield (name, record), base + i * POSITIONS_PER_MEMBER + record["version"]


def _member_position_base(shape: CityShape) -> int:
    return 1 + shape.districts * shape.streets_per_district * (
        1 + shape.communities_per_street + shape.units_per_street) + shape.districts


# -- the rows the projector writes -------------------------------------------------

MEMBER_COLUMNS = (
    "id", "name", "sex", "birth_date", "ethnicity", "education", "occupation",
    "organisation_id", "stage", "stage_since", "applied_on", "transfer_to", "transfer_letter",
    "transfer_valid_until", "transfer_started_on", "episode", "status", "exited_on",
    "standing", "standing_since", "standing_until", "activist_since", "target_since",
    "admitted_on", "probation_ends_on", "full_since", "placement_organisation_id",
    "placement_since", "community_id", "community_since",
)  # fmt: skip
COPY_COLUMNS = {
    "rm_organisations": "id, code, name, kind, level, parent_id, established_on,"
    " registration_number, supervising_body, status, closed_on, merged_into_id",
    "rm_organisation_history": "organisation_id, version, attribute, effective_date, value",
    "rm_members": ", ".join(MEMBER_COLUMNS),
    "rm_member_history": "member_id, version, attribute, effective_date, value",
    "rm_member_timeline": "member_id, valid_from, valid_to, "
    + ", ".join(TIMELINE_COLUMNS.values()),
    "rm_movements": "member_id, version, kind, effective_date, organisation_id,"
    " other_organisation_id, detail, stage",
    "rm_audit": "aggregate_id, version, aggregate_kind, event_type, effective_date,"
    " recorded_at, request_id, source_system, store_position, payload, organisation_id",
    "rm_versions": "aggregate_id, version",
}
MEMBER_TABLES = ("rm_members", "rm_member_history", "rm_member_timeline", "rm_movements",
                 "rm_audit", "rm_versions")
_TRANSFER_CLEARED = {"transfer_to": None, "transfer_letter": None,
                     "transfer_valid_until": None, "transfer_started_on": None}
_EPISODE_RESET = {**_TRANSFER_CLEARED, "status": "ACTIVE", "exited_on": None,
                  "standing": "NORMAL", "standing_since": None, "standing_until": None,
                  "activist_since": None, "target_since": None, "admitted_on": None,
                  "probation_ends_on": None, "full_since": None,
                  "placement_organisation_id": None, "placement_since": None,
                  "community_id": None, "community_since": None}
_STAGE_OF = {"MemberActivistAdmitted": ("ACTIVIST", "activist_since"),
             "MemberDevelopmentTargetAdmitted": ("DEVELOPMENT_TARGET", "target_since")}
_STANDING_OF = {"MemberCorrectionOrdered": "CORRECTION", "MemberCorrectionEnded": "NORMAL",
                "MemberPartyProbationImposed": "PARTY_PROBATION",
                "MemberPartyProbationEnded": "NORMAL", "MemberSuspended": "SUSPENDED",
                "MemberRestored": "NORMAL"}
_EXIT_OF = {"MemberProbationCancelled": "CANCELLED", "MemberWithdrawn": "WITHDRAWN",
            "MemberRemoved": "REMOVED", "MemberExpelled": "EXPELLED", "MemberDied": "DIED"}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _audit(record: Record, kind: str, name: str, position: int,
           organisation: str | None) -> tuple[Any, ...]:
    return (str(record["aggregate_id"]), record["version"], kind, name,
            record["effective_date"].isoformat(), record["recorded_at"].isoformat(),
            record["request_id"], record["source_system"], position,
            json.dumps(plain(record), ensure_ascii=False, sort_keys=True), organisation)


def organisation_rows(event: Event, position: int) -> dict[str, list[tuple[Any, ...]]]:
    name, r = event
    assert name == "OrganisationEstablished", name
    oid, day = str(r["aggregate_id"]), r["effective_date"].isoformat()
    parent = _text(r["parent_id"])
    return {
        "rm_organisations": [(oid, r["code"], r["name"], r["kind"], r["level"], parent, day,
                              r["registration_number"], r["supervising_body"], "ACTIVE", None,
                              None)],
        "rm_organisation_history": [(oid, 1, "parent", day, parent),
                                    (oid, 1, "status", day, "ACTIVE")],
        "rm_audit": [_audit(r, "Organisation", name, position, oid)],
        "rm_versions": [(oid, 1)],
    }


class MemberRows:
    """What projections/apply/members.py, timeline.py and apply_event write for one
    member's events, applied in version order."""

    def __init__(self) -> None:
        self.member: dict[str, Any] = {}
        self.history: list[tuple[Any, ...]] = []
        self.movements: list[tuple[Any, ...]] = []
        self.audit: list[tuple[Any, ...]] = []
        self.version = 0

    def apply(self, name: str, r: Record, position: int) -> None:
        m, day, version = self.member, r["effective_date"].isoformat(), r["version"]
        member_id = str(r["aggregate_id"])
        self.version = version

        def history(**attributes: Any) -> None:
            self.history.extend((member_id, version, a, day, _text(v))
                                for a, v in attributes.items())

        def movement(kind: str, where: Any, other: Any = None, detail: str | None = None,
                     stage: str | None = None) -> None:
            self.movements.append((member_id, version, kind, day, _text(where), _text(other),
                                   detail, stage))

        def episode(number: int) -> None:
            history(organisation=r["organisation_id"], stage="APPLICANT", episode=number)

        if name == "MemberApplied":
            m.update(dict.fromkeys(MEMBER_COLUMNS))
            m.update(id=member_id, name=r["name"], sex=r["sex"],
                     birth_date=r["birth_date"].isoformat(), ethnicity=r["ethnicity"],
                     education=r["education"], occupation=r["occupation"],
                     organisation_id=str(r["organisation_id"]), stage="APPLICANT",
                     stage_since=day, applied_on=day, episode=1, status="ACTIVE",
                     standing="NORMAL")
            episode(1)
        elif name == "MemberReapplied":
            m.update(_EPISODE_RESET)
            m.update(name=r["name"], ethnicity=r["ethnicity"], education=r["education"],
                     occupation=r["occupation"], organisation_id=str(r["organisation_id"]),
                     stage="APPLICANT", stage_since=day, applied_on=day, episode=r["episode"])
            episode(int(r["episode"]))
        elif name in _STAGE_OF:
            stage, since = _STAGE_OF[name]
            m.update({"stage": stage, "stage_since": day, since: day})
            history(stage=stage)
        elif name == "MemberProbationaryAdmitted":
            current = m["organisation_id"]
            m.update(stage="PROBATIONARY", stage_since=day, admitted_on=day,
                     probation_ends_on=_text(r["probation_ends_on"]))
            history(stage="PROBATIONARY")
            assert not r.get("exception_reason"), "rm_admission_exceptions is not mirrored"
            movement("ADMITTED", r["approved_by"], current)
        elif name == "MemberConverted":
            current = m["organisation_id"]
            full_since = _text(r["full_since"])
            m.update(stage="FULL", stage_since=day, full_since=full_since, standing="NORMAL",
                     standing_since=full_since, standing_until=None)
            history(stage="FULL", standing="NORMAL")
            movement("CONVERTED", r["approved_by"], current)
        elif name in _STANDING_OF:
            standing = _STANDING_OF[name]
            m.update(standing=standing, standing_since=day, standing_until=_text(r.get("until")))
            history(standing=standing)
        elif name in _EXIT_OF:
            kind = _EXIT_OF[name]
            current, stage = m["organisation_id"], m["stage"]
            m.update(_TRANSFER_CLEARED)
            m.update(status=kind, exited_on=day, placement_organisation_id=None,
                     placement_since=None, community_id=None, community_since=None)
            history(status=kind, in_transit_to=None, placement=None, community=None)
            movement("EXIT", r.get("decided_by") or current, detail=kind, stage=stage)
        elif name == "MemberCommunityRegistered":
            m.update(community_id=_text(r["community_id"]), community_since=day)
            history(community=r["community_id"])
        elif name == "MemberTransferStarted":
            m.update(transfer_to=_text(r["to_organisation_id"]),
                     transfer_letter=r["letter_number"],
                     transfer_valid_until=_text(r["valid_until"]), transfer_started_on=day)
            history(in_transit_to=r["to_organisation_id"])
        elif name == "MemberTransferAccepted":
            stage = m["stage"]
            m.update(_TRANSFER_CLEARED)
            m.update(organisation_id=_text(r["to_organisation_id"]))
            history(organisation=r["to_organisation_id"], in_transit_to=None)
            movement("TRANSFER", r["from_organisation_id"], r["to_organisation_id"],
                     stage=stage)
        elif name == "MemberTransferRefused":
            m.update(_TRANSFER_CLEARED)
            history(in_transit_to=None)
        else:
            raise ValueError(f"citygen does not mirror {name}")
        self.audit.append(_audit(r, "Member", name, position, m["organisation_id"]))

    def timeline(self) -> list[tuple[Any, ...]]:
        """The rows projections.apply.timeline writes, from the history rows kept here."""
        ordered = sorted(self.history, key=lambda h: (h[3], h[1]))
        return timeline_rows(self.member["id"], [(a, d, v) for _, _, a, d, v in ordered])

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        return {
            "rm_members": [tuple(self.member[c] for c in MEMBER_COLUMNS)],
            "rm_member_history": self.history,
            "rm_member_timeline": self.timeline(),
            "rm_movements": self.movements,
            "rm_audit": self.audit,
            "rm_versions": [(self.member["id"], self.version)],
        }


def member_rows(member: list[Event], base_position: int) -> dict[str, list[tuple[Any, ...]]]:
    projected = MemberRows()
    for name, record in member:
        projected.apply(name, record, base_position + record["version"])
    return projected.rows()


# -- loading ---------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    members: int
    rows: dict[str, int]
    organisations: int
    seconds: float
    generation: int
    branches: list[str]
    districts: list[str]
    today: date = TODAY
    active: int = 0
    exited: int = 0
    in_transit: int = 0
    finish_seconds: float = 0.0  # indexes, rollup counters, statistics after the load

    @property
    def history_rows(self) -> int:
        return self.rows.get("rm_member_history", 0)

    @property
    def timeline_rows(self) -> int:
        return self.rows.get("rm_member_timeline", 0)

    @property
    def audit_rows(self) -> int:
        return self.rows.get("rm_audit", 0)


@dataclass(frozen=True)
class _Target:
    """Where the workers connect (picklable for worker processes)."""

    conninfo: dict[str, Any]
    schema: str | None
    generation: int

    def connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(**self.conninfo, autocommit=True)
        if self.schema:
            conn.execute(f'SET search_path TO "{self.schema}"')
        return conn

    def copy_sql(self, table: str) -> str:
        return f"COPY {table_name(table, self.generation)} ({COPY_COLUMNS[table]}) FROM STDIN"


def _load_chunks(target: _Target, shape: CityShape, seed: int, chunks: list[int]
                 ) -> dict[str, int]:
    """One worker: its chunks of members streamed into one COPY per member table."""
    branches = branches_of(shape)
    by_district = _by_district(branches)
    base = _member_position_base(shape)
    counts = dict.fromkeys(MEMBER_TABLES, 0)
    counts.update(active=0, exited=0, in_transit=0)
    conns = {t: target.connect() for t in MEMBER_TABLES}
    copies = {t: conns[t].cursor().copy(target.copy_sql(t)) for t in MEMBER_TABLES}
    try:
        writers = {t: cm.__enter__() for t, cm in copies.items()}
        try:
            for chunk in chunks:
                for i, member in _chunk_members(chunk, shape, seed, branches, by_district):
                    rows = member_rows(member, base + i * POSITIONS_PER_MEMBER)
                    for table, table_rows in rows.items():
                        write = writers[table].write_row
                        for row in table_rows:
                            write(row)
                        counts[table] += len(table_rows)
                    status = rows["rm_members"][0][16]
                    counts["active" if status == "ACTIVE" else "exited"] += 1
                    counts["in_transit"] += rows["rm_members"][0][11] is not None
        finally:
            for cm in copies.values():
                cm.__exit__(None, None, None)
    finally:
        for conn in conns.values():
            conn.close()
    return counts


def _target(settings: Settings, generation: int) -> _Target:
    return _Target(settings.postgres_connect_args(), settings.postgres()["schema"] or None,
                   generation)


def load_city(settings: Settings, members: int, *, seed: int = 20250630, generation: int = 1,
              shape: CityShape | None = None, workers: int | None = None) -> Loaded:
    """Creates generation `generation` of the read-model tables (on PostgreSQL), fills
    them, builds the indexes and points the live-generation row at it."""
    started = time.perf_counter()
    shape = shape or CityShape.for_members(members)
    shape = CityShape(members, shape.districts, shape.streets_per_district,
                      shape.communities_per_street, shape.units_per_street)
    target = _target(settings, generation)
    db = Database(settings)  # creates the generation pointer
    try:
        # As a rebuild loads: tables bare, indexes and rollup counters once at the end.
        create_tables(db, generation, bare=True)
        counts: dict[str, int] = {}
        with target.connect() as conn, conn.cursor() as cur:
            org_rows: dict[str, list[tuple[Any, ...]]] = {}
            for position, event in enumerate(organisation_events(shape), start=1):
                for table, rows in organisation_rows(event, position).items():
                    org_rows.setdefault(table, []).extend(rows)
            for table, rows in org_rows.items():
                with cur.copy(target.copy_sql(table)) as copy:
                    for row in rows:
                        copy.write_row(row)
                counts[table] = len(rows)
        chunks = list(range((members + CHUNK - 1) // CHUNK))
        workers = max(1, min(workers or (os.cpu_count() or 1), 4, len(chunks)))
        plans = [chunks[w::workers] for w in range(workers)]
        if workers == 1:
            results = [_load_chunks(target, shape, seed, chunks)]
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = [pool.submit(_load_chunks, target, shape, seed, p) for p in plans]
                results = [f.result() for f in futures]
        for result in results:
            for key, value in result.items():
                counts[key] = counts.get(key, 0) + value
        finishing = time.perf_counter()
        helper = Database(settings)
        try:
            finish_tables(db, generation, helper=helper)
        finally:
            helper.close()
        finish_seconds = time.perf_counter() - finishing
        with db.transaction(generation=0) as cur:
            cur.execute(f"UPDATE {POINTER_TABLE} SET generation = ? WHERE id = 1", (generation,))
    finally:
        db.close()
    with target.connect() as conn:
        for table in (*COPY_COLUMNS, "rm_rollup_counts"):
            conn.execute(f"VACUUM (ANALYZE) {table_name(table, generation)}")
    active, exited, in_transit = (counts.pop(k, 0) for k in ("active", "exited", "in_transit"))
    return Loaded(
        members=members,
        rows=counts,
        organisations=counts.get("rm_organisations", 0),
        seconds=time.perf_counter() - started,
        generation=generation,
        branches=[b.code for b in branches_of(shape)],
        districts=districts_of(shape),
        active=active,
        exited=exited,
        in_transit=in_transit,
        finish_seconds=finish_seconds,
    )
