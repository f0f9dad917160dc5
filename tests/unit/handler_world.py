"""A registry without Kafka for the service-layer tests: requests are encoded as an
integrator sends them and handled by `handle()` over a real SQLite event store."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from domain.change_request import ChangeRequest as RequestRecord
from domain.change_request import change_request_id
from domain.member import Member
from domain.organisation import Organisation
from domain.provenance import Provenance
from registry.city import Person, city_tree, people
from registry.client import change_request, encode_request
from registry.config import Settings
from registry.handlers import Batch, Context, ReceivedRecord, handle, organisation_id
from registry.integrators import register_integrator
from registry.member_ids import MemberIds
from registry.store import EventStore, open_event_store
from registry.tally import OrganisationTally, tally_id
from schemas.catalog import load_catalog

SYSTEM = "city-system"
TODAY = date.today()
C1, C2 = "SH-XH-S1-C1", "SH-XH-S1-C2"
STREET, OTHER_STREET, DISTRICT = "SH-XH-S1", "SH-XH-S2", "SH-XH"


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    code: str | None
    values: dict[str, str]
    caused: list[list[Any]]
    record: RequestRecord


@dataclass(frozen=True)
class FoundingSponsor:
    """A sponsor from before the registry: the first full members need two as well."""

    id: UUID
    may_sponsor: bool = True


class World:
    def __init__(self, tmp_path: Path) -> None:
        key = "ab" * 32
        settings = Settings(
            data_dir=tmp_path,
            member_id_key=key,
            cipher_key=base64.b64encode(bytes(range(32))).decode(),
        )
        self.store: EventStore = open_event_store(settings)
        register_integrator(self.store, SYSTEM, ["SH"])
        self.ctx = Context(
            member_ids=MemberIds(bytes.fromhex(key)), catalog=load_catalog(), today=lambda: TODAY
        )
        self.count = 0
        self.people = iter(people(200, seed=3))

    # -- sending ------------------------------------------------------------------

    def request(
        self,
        acting: str,
        kind: str,
        days_ago: int,
        /,
        person: Person | None = None,
        request_id: str | None = None,
        system: str = SYSTEM,
        **fields: Any,
    ) -> dict[str, Any]:
        self.count += 1
        return change_request(
            request_id=request_id or f"r{self.count:05d}",
            source_system=system,
            acting_organisation=acting,
            effective_date=ago(days_ago),
            change=kind,
            member_citizen_id=person.citizen_id if person else None,
            **fields,
        )

    def handle_all(self, requests: list[dict[str, Any]]) -> list[Outcome]:
        """Handles the requests in one batch (one transaction), as the ingest does."""
        batch = Batch(self.store)
        for request in requests:
            self.count += 1
            value = encode_request(self.ctx.catalog, request)
            handle(batch, ReceivedRecord(None, value, f"requests/0@1/{self.count}"), self.ctx)
        self.store.events.put(batch.events)
        return [self.outcome(r) for r in requests]

    def send(self, acting: str, kind: str, days_ago: int = 0, /, **kw: Any) -> Outcome:
        [outcome] = self.handle_all([self.request(acting, kind, days_ago, **kw)])
        return outcome

    def ok(self, acting: str, kind: str, days_ago: int = 0, /, **kw: Any) -> Outcome:
        outcome = self.send(acting, kind, days_ago, **kw)
        assert outcome.accepted, (kind, outcome.code, outcome.values)
        return outcome

    def refused(
        self, code: str, acting: str, kind: str, days_ago: int = 0, /, **kw: Any
    ) -> Outcome:
        outcome = self.send(acting, kind, days_ago, **kw)
        assert (outcome.accepted, outcome.code) == (False, code), outcome.values
        assert outcome.caused == []
        return outcome

    def outcome(self, request: dict[str, Any]) -> Outcome:
        record = self.store.repository.get(
            change_request_id(request["source_system"], request["request_id"])
        )
        assert isinstance(record, RequestRecord)
        return Outcome(record.accepted, record.code, record.values, record.caused, record)

    # -- reading --------------------------------------------------------------------

    def member(self, person: Person) -> Member:
        member = self.store.repository.get(self.ctx.member_ids.for_citizen(person.citizen_id))
        assert isinstance(member, Member)
        return member

    def organisation(self, code: str) -> Organisation:
        organisation = self.store.repository.get(organisation_id(code))
        assert isinstance(organisation, Organisation)
        return organisation

    def counts(self, code: str) -> dict[str, int]:
        try:
            tally = self.store.repository.get(tally_id(organisation_id(code)))
        except Exception:  # no tally yet: nothing was ever counted there
            return {}
        assert isinstance(tally, OrganisationTally)
        return {tie: n for tie, n in tally.counts.items() if n}

    # -- building blocks -------------------------------------------------------------

    def establish_city(self) -> None:
        for level in ("CITY", "DISTRICT", "STREET", "COMMUNITY", "UNIT"):
            for s in city_tree():
                if s.level == level:
                    self.ok(
                        s.parent_code or s.code,
                        "EstablishOrganisation",
                        3000,
                        code=s.code,
                        name=s.name,
                        kind=s.kind,
                        level=s.level,
                        parent_code=s.parent_code,
                        registration_number=s.registration_number,
                        supervising_body=s.supervising_body,
                    )

    def person(self) -> Person:
        return next(self.people)

    def apply(self, person: Person, organisation: str, days_ago: int) -> Outcome:
        return self.send(
            organisation,
            "ApplyForMembership",
            days_ago,
            person=person,
            name=person.name,
            ethnicity=person.ethnicity,
            education=person.education,
            occupation=person.occupation,
            phone=person.phone,
            address=person.address,
            organisation_code=organisation,
        )

    def to_target(self, person: Person, branch: str, start: int) -> int:
        """Applicant on day `start` (days ago) to development target with review and
        training; returns the day (days ago) the target decision was taken."""
        assert self.apply(person, branch, start).accepted
        self.ok(branch, "AdmitActivist", start - 10, person=person)
        target = start - 10 - 366
        self.ok(branch, "AdmitDevelopmentTarget", target, person=person)
        self.ok(branch, "RecordPoliticalReview", target - 1, person=person, passed=True)
        self.ok(branch, "RecordTraining", target - 2, person=person, days=3, hours=0)
        return target

    def to_full(self, person: Person, branch: str, meeting: int, approver: str = STREET) -> None:
        """A ready development target admitted on `meeting` (days ago) and converted a
        year and two days later."""
        self.ok(
            approver, "AdmitProbationary", meeting, person=person, approved_on=ago(meeting - 20)
        )
        converted = meeting - 367
        self.ok(approver, "ConvertToFull", converted, person=person, approved_on=ago(converted - 3))

    def founder(self, branch: str = C1, start: int = 1700) -> Person:
        """A full member whose sponsors predate the registry: named through the domain,
        everything else through requests."""
        person = self.person()
        target = self.to_target(person, branch, start)
        member = self.member(person)
        member.name_sponsors(
            sponsors=[FoundingSponsor(uuid4()), FoundingSponsor(uuid4())],
            effective_date=ago(target - 3),
            recorded_on=TODAY,
            by=Provenance(request_id="founding", source_system="test"),
        )
        self.store.save(member)
        self.to_full(person, branch, target - 4)
        return person

    def full_member(self, sponsors: tuple[Person, Person], branch: str = C1) -> Person:
        """A full member taken there by requests alone, since 800 days ago."""
        person = self.person()
        target = self.to_target(person, branch, 800)
        self.ok(
            branch,
            "NameSponsors",
            target - 3,
            person=person,
            sponsor_citizen_ids=[s.citizen_id for s in sponsors],
        )
        self.to_full(person, branch, target - 4)
        return person
