"""The talk with an applicant, time in the unit before admission, the community's opinion
and the street's coordination body: each rule on both sides of its boundary."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest
from domain_builders import (
    ACTIVIST,
    APPLIED,
    BRANCH,
    BY,
    MEETING,
    OTHER_BRANCH,
    REVIEWED,
    TODAY,
    activist,
    admit,
    applicant,
    ready_target,
    refused,
)
from organisation_builders import FOUNDED, city, community, district, org, street

from domain.member import Member
from domain.policy import Policy
from domain.vocabulary import Circumstance, OrganisationKind, OrganisationLevel, Stage

COMMUNITY = uuid4()
ELSEWHERE = uuid4()


def _at(day: date, **kw: object) -> dict[str, object]:
    return {"effective_date": day, "recorded_on": TODAY, "by": BY} | kw


def _last_event(m: Member) -> object:
    return m.pending_events[-1]


# -- the talk with an applicant (入党谈话) ------------------------------------------------


@pytest.mark.parametrize(("days", "late"), [(0, False), (31, False), (32, True), (200, True)])
def test_a_talk_after_the_policy_month_is_recorded_as_late(days: int, late: bool) -> None:
    m = applicant()
    talk = APPLIED + timedelta(days=days)
    m.record_application_talk(held_by=BRANCH, **_at(talk))
    event = _last_event(m)
    assert (type(event).__qualname__, event.held_by, event.late) == (
        "Member.ApplicationTalkHeld",
        BRANCH,
        late,
    )
    assert m.application_talks == (talk,)


def test_the_talk_deadline_is_policy() -> None:
    day_10 = APPLIED + timedelta(days=10)
    m = applicant()
    m.record_application_talk(held_by=BRANCH, policy=Policy(application_talk_days=9), **_at(day_10))
    assert _last_event(m).late is True
    m.record_application_talk(
        held_by=BRANCH, policy=Policy(application_talk_days=10), **_at(day_10)
    )
    assert _last_event(m).late is False
    assert m.application_talks == (day_10, day_10)  # several talks may be recorded


def test_a_talk_is_dated_within_the_applicant_stage() -> None:
    m = applicant()
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.record_application_talk,
        m,
        **_at(APPLIED - timedelta(days=1), held_by=BRANCH),
    )
    refused(
        "EFFECTIVE_DATE_IN_FUTURE",
        m.record_application_talk,
        m,
        held_by=BRANCH,
        effective_date=TODAY + timedelta(days=1),
        recorded_on=TODAY,
        by=BY,
    )
    a = activist()
    # Recorded late but held while an applicant: on the day of the decision at the latest.
    refused(
        "TALK_OUTSIDE_APPLICANT_STAGE",
        a.record_application_talk,
        a,
        **_at(ACTIVIST + timedelta(days=1), held_by=BRANCH),
    )
    a.record_application_talk(held_by=BRANCH, **_at(ACTIVIST))
    assert a.application_talks == (ACTIVIST,) and a.stage is Stage.ACTIVIST


def test_talks_stay_in_order_and_the_activist_decision_follows_them() -> None:
    m = applicant()
    talk = APPLIED + timedelta(days=20)
    m.record_application_talk(held_by=BRANCH, **_at(talk))
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.record_application_talk,
        m,
        **_at(talk - timedelta(days=1), held_by=BRANCH),
    )
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.admit_as_activist,
        m,
        **_at(talk - timedelta(days=1), decided_by=BRANCH),
    )
    m.admit_as_activist(decided_by=BRANCH, **_at(talk))


def test_talks_belong_to_their_episode() -> None:
    m = applicant()
    m.record_application_talk(held_by=BRANCH, **_at(APPLIED))
    m.withdraw(**_at(APPLIED + timedelta(days=40)))
    refused("EPISODE_CLOSED", m.record_application_talk, m, **_at(TODAY, held_by=BRANCH))
    m.reapply(
        name="x",
        ethnicity="Han",
        education="x",
        occupation="x",
        phone="1",
        address="x",
        organisation_id=BRANCH,
        **_at(date(2024, 1, 1)),
    )
    assert m.application_talks == ()


# -- time in the unit before admission (rule 2: refusal unless overridden) ----------------


def _transferred_target(accepted_on: date) -> Member:
    m = ready_target()
    m.start_transfer(
        to_organisation_id=OTHER_BRANCH,
        letter_number="L-1",
        valid_days=None,
        **_at(accepted_on - timedelta(days=5)),
    )
    m.accept_transfer(letter_number="L-1", **_at(accepted_on))
    return m


def test_admission_three_months_after_the_transfer_is_in_time() -> None:
    m = _transferred_target(date(2021, 3, 1))  # three months before MEETING, 2021-06-01
    admit(m)
    assert m.stage is Stage.PROBATIONARY
    assert _last_event(m).exception_reason is None


def test_admission_a_day_short_of_three_months_needs_an_exception_reason() -> None:
    m = _transferred_target(date(2021, 3, 2))
    error = refused("ADMISSION_TOO_SOON_AFTER_TRANSFER", admit, m, m=m)
    assert error.values == {
        "transfer_accepted_on": "2021-03-02",
        "branch_meeting": "2021-06-01",
        "earliest": "2021-06-02",
    }
    refused("ADMISSION_TOO_SOON_AFTER_TRANSFER", admit, m, m=m, exception_reason="")
    admit(m, exception_reason="posted here permanently; files reviewed by the district")
    assert m.stage is Stage.PROBATIONARY
    assert _last_event(m).exception_reason.startswith("posted here")


def test_a_transfer_on_the_meeting_day_counts_and_one_after_it_does_not() -> None:
    m = _transferred_target(REVIEWED + timedelta(days=10))
    refused(
        "ADMISSION_TOO_SOON_AFTER_TRANSFER",
        admit,
        m,
        m=m,
        effective_date=REVIEWED + timedelta(days=10),
    )
    # A late-recorded meeting dated before the transfer: the member had not moved yet.
    admit(m, effective_date=REVIEWED + timedelta(days=9), approved_on=date(2021, 6, 1))
    assert m.stage is Stage.PROBATIONARY


def test_the_months_in_the_unit_are_policy() -> None:
    m = _transferred_target(date(2021, 3, 2))
    admit(m, policy=Policy(admission_min_months_in_unit=0))
    assert m.stage is Stage.PROBATIONARY
    n = _transferred_target(date(2021, 1, 2))
    refused(
        "ADMISSION_TOO_SOON_AFTER_TRANSFER",
        admit,
        n,
        m=n,
        policy=Policy(admission_min_months_in_unit=6),
    )


def test_a_target_never_transferred_needs_no_reason() -> None:
    m = ready_target()
    admit(m, exception_reason="not needed, kept as sent")
    assert _last_event(m).exception_reason == "not needed, kept as sent"


# -- the community's opinion (rule 3) -----------------------------------------------------


def _reporting_target(since: date = REVIEWED) -> Member:
    m = ready_target()
    m.set_circumstance(circumstance=Circumstance.IN_SERVICE, **_at(since))
    m.register_with_community(community_id=COMMUNITY, **_at(since))
    return m


def test_people_under_development_report_to_a_community() -> None:
    a = activist()
    a.set_circumstance(circumstance=Circumstance.IN_SERVICE, **_at(APPLIED))
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        a.register_with_community,
        a,
        **_at(ACTIVIST - timedelta(days=1), community_id=COMMUNITY),
    )
    a.register_with_community(community_id=COMMUNITY, **_at(ACTIVIST))
    assert (a.community_id, a.organisation_id) == (COMMUNITY, BRANCH)


def test_the_opinion_comes_from_the_community_the_member_reports_to() -> None:
    m = ready_target()
    opinion = {"summary": "active volunteer", "favourable": True}
    refused(
        "NOT_REGISTERED_WITH_COMMUNITY",
        m.record_community_opinion,
        m,
        **_at(MEETING, community_id=COMMUNITY, **opinion),
    )
    m = _reporting_target()
    refused(
        "NOT_REGISTERED_WITH_COMMUNITY",
        m.record_community_opinion,
        m,
        **_at(MEETING, community_id=ELSEWHERE, **opinion),
    )
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.record_community_opinion,
        m,
        **_at(REVIEWED - timedelta(days=1), community_id=COMMUNITY, **opinion),
    )
    m.record_community_opinion(community_id=COMMUNITY, **_at(MEETING, **opinion))
    event = _last_event(m)
    assert (event.community_id, event.favourable, event.summary) == (
        COMMUNITY,
        True,
        "active volunteer",
    )
    assert m.community_opinions == {COMMUNITY: MEETING}


def test_by_default_an_admission_without_the_opinion_is_only_a_warning() -> None:
    m = _reporting_target()
    admit(m)
    assert m.stage is Stage.PROBATIONARY


def test_policy_can_make_the_opinion_a_condition_of_admission() -> None:
    required = Policy(community_opinion_required=True)
    m = _reporting_target()
    refused("COMMUNITY_OPINION_MISSING", admit, m, m=m, policy=required)
    # An opinion dated after the meeting (recorded before it) does not count …
    m.record_community_opinion(
        community_id=COMMUNITY,
        summary="late",
        favourable=False,
        **_at(MEETING + timedelta(days=1)),
    )
    refused("COMMUNITY_OPINION_MISSING", admit, m, m=m, policy=required)
    # … one dated on the meeting day does.
    n = _reporting_target()
    n.record_community_opinion(
        community_id=COMMUNITY, summary="ok", favourable=True, **_at(MEETING)
    )
    admit(n, policy=required)
    assert n.stage is Stage.PROBATIONARY
    # Someone reporting to no community needs none.
    o = ready_target()
    admit(o, policy=required)


# -- the street's coordination body -------------------------------------------------------


def _street_and_unit() -> tuple:
    s = street(district(city()))
    unit = org(OrganisationLevel.UNIT, street(district(city())), OrganisationKind.BRANCH)
    return s, unit


D = date(2023, 3, 1)


def test_a_unit_organisation_joins_and_leaves_a_streets_body() -> None:
    s, unit = _street_and_unit()
    s.admit_to_coordination_body(unit=unit, effective_date=D, by=BY, recorded_on=TODAY)
    assert s.coordination_units == {unit.id: D}
    refused(
        "UNIT_ALREADY_IN_COORDINATION_BODY",
        s.admit_to_coordination_body,
        s,
        unit=unit,
        effective_date=D,
        by=BY,
    )
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        s.release_from_coordination_body,
        s,
        unit_organisation_id=unit.id,
        effective_date=D - timedelta(days=1),
        by=BY,
    )
    s.release_from_coordination_body(unit_organisation_id=unit.id, effective_date=D, by=BY)
    assert s.coordination_units == {}
    refused(
        "UNIT_NOT_IN_COORDINATION_BODY",
        s.release_from_coordination_body,
        s,
        unit_organisation_id=unit.id,
        effective_date=D,
        by=BY,
    )
    s.admit_to_coordination_body(unit=unit, effective_date=D + timedelta(days=30), by=BY)
    assert s.coordination_units == {unit.id: D + timedelta(days=30)}


def test_the_body_is_a_streets_and_takes_unit_organisations() -> None:
    s, unit = _street_and_unit()
    c = community(s)
    d = district(city())
    refused("COORDINATION_BODY_LEVEL", s.admit_to_coordination_body, s, unit=c, effective_date=D,
            by=BY)  # fmt: skip
    refused("COORDINATION_BODY_LEVEL", d.admit_to_coordination_body, d, unit=unit,
            effective_date=D, by=BY)  # fmt: skip
    refused(
        "EFFECTIVE_DATE_IN_FUTURE",
        s.admit_to_coordination_body,
        s,
        unit=unit,
        effective_date=TODAY + timedelta(days=1),
        recorded_on=TODAY,
        by=BY,
    )
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        s.admit_to_coordination_body,
        s,
        unit=unit,
        effective_date=FOUNDED - timedelta(days=1),
        by=BY,
    )
    unit.dissolve(member_count=0, effective_date=D, by=BY)
    refused("ORGANISATION_DISSOLVED", s.admit_to_coordination_body, s, unit=unit,
            effective_date=D, by=BY)  # fmt: skip


def test_a_dissolved_unit_can_still_be_taken_off_the_body() -> None:
    s, unit = _street_and_unit()
    s.admit_to_coordination_body(unit=unit, effective_date=D, by=BY)
    unit.dissolve(member_count=0, effective_date=D, by=BY)
    s.release_from_coordination_body(unit_organisation_id=unit.id, effective_date=D, by=BY)
    assert s.coordination_units == {}
