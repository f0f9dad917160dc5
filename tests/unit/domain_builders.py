"""Builders for the domain tests: a person, approvers, sponsors, a member at each stage."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.authority import Approver
from domain.errors import DomainError
from domain.identity import CitizenId, check_character
from domain.member import Member
from domain.provenance import Provenance
from domain.vocabulary import OrganisationKind, OrganisationLevel

BY = Provenance(request_id="req-1", source_system="unit-system")
TODAY = date(2030, 1, 1)  # recorded_on for everything: late enough for any effective date
BRANCH = UUID("00000000-0000-4000-8000-00000000b001")
OTHER_BRANCH = UUID("00000000-0000-4000-8000-00000000b002")
STREET_COMMITTEE = Approver(
    UUID("00000000-0000-4000-8000-00000000c001"),
    OrganisationKind.COMMITTEE,
    OrganisationLevel.STREET,
)
DISTRICT_COMMITTEE = Approver(
    UUID("00000000-0000-4000-8000-00000000c002"),
    OrganisationKind.COMMITTEE,
    OrganisationLevel.DISTRICT,
)
GENERAL_BRANCH = Approver(
    UUID("00000000-0000-4000-8000-00000000c003"),
    OrganisationKind.GENERAL_BRANCH,
    OrganisationLevel.COMMUNITY,
)

APPLIED = date(2020, 3, 1)
ACTIVIST = date(2020, 4, 1)
TARGET = date(2021, 4, 1)
REVIEWED = date(2021, 5, 1)
MEETING = date(2021, 6, 1)  # branch meeting: admission as probationary
APPROVED = date(2021, 7, 1)
PROBATION_END = date(2022, 6, 1)
CONVERTED = date(2022, 6, 10)


def citizen_id(birth: date = date(1990, 5, 17), sequence: str = "123") -> CitizenId:
    first17 = f"110101{birth:%Y%m%d}{sequence}"
    return CitizenId.parse(first17 + check_character(first17))


@dataclass(frozen=True)
class FakeSponsor:
    id: UUID
    may_sponsor: bool = True


def sponsors(n: int = 2, eligible: bool = True) -> list[FakeSponsor]:
    return [FakeSponsor(uuid4(), eligible) for _ in range(n)]


def applicant(
    applied: date = APPLIED, birth: date = date(1990, 5, 17), organisation: UUID = BRANCH
) -> Member:
    return Member.apply(
        member_id=uuid4(),
        citizen_id=citizen_id(birth),
        name="Li Lei",
        ethnicity="Han",
        education="university",
        occupation="engineer",
        phone="13800000000",
        address="1 Long Street",
        organisation_id=organisation,
        effective_date=applied,
        recorded_on=TODAY,
        by=BY,
    )


def activist(since: date = ACTIVIST) -> Member:
    m = applicant()
    m.admit_as_activist(decided_by=BRANCH, effective_date=since, recorded_on=TODAY, by=BY)
    return m


def target(since: date = TARGET) -> Member:
    m = activist()
    m.admit_as_development_target(decided_by=BRANCH, effective_date=since, recorded_on=TODAY, by=BY)
    return m


def ready_target() -> Member:
    """A development target with every precondition of admission met."""
    m = target()
    m.record_political_review(
        passed=True, reviewed_by=BRANCH, effective_date=REVIEWED, recorded_on=TODAY, by=BY
    )
    m.record_training(days=3, hours=0, effective_date=REVIEWED, recorded_on=TODAY, by=BY)
    m.name_sponsors(sponsors=sponsors(), effective_date=REVIEWED, recorded_on=TODAY, by=BY)
    return m


def admit(m: Member, **overrides: Any) -> None:
    kwargs: dict[str, Any] = {
        "decided_by": BRANCH,
        "approver": STREET_COMMITTEE,
        "approved_on": APPROVED,
        "effective_date": MEETING,
        "recorded_on": TODAY,
        "by": BY,
    }
    kwargs.update(overrides)
    m.admit_as_probationary(**kwargs)


def probationary() -> Member:
    m = ready_target()
    admit(m)
    return m


def full_member() -> Member:
    m = probationary()
    m.convert(
        decided_by=BRANCH,
        approver=STREET_COMMITTEE,
        approved_on=CONVERTED,
        effective_date=CONVERTED,
        recorded_on=TODAY,
        by=BY,
    )
    return m


def day_after(d: date, days: int = 1) -> date:
    return d + timedelta(days=days)


def state(aggregate: Any) -> dict[str, Any]:
    """Everything an aggregate holds except its pending events, for comparisons."""
    return copy.deepcopy({k: v for k, v in vars(aggregate).items() if k != "_pending_events"})


def replay(events: list[Any]) -> Any:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


def refused(code: str, command: Any, aggregate: Any, **kwargs: Any) -> DomainError:
    """Runs a command that must be refused with `code` and leave `aggregate` untouched."""
    before = state(aggregate)
    pending = len(aggregate.pending_events)
    with pytest.raises(DomainError) as caught:
        command(**kwargs)
    assert caught.value.code == code, caught.value
    assert state(aggregate) == before
    assert len(aggregate.pending_events) == pending
    return caught.value
