"""Circumstances, in-service members reporting to a community, placement of mobile members."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest
from domain_builders import (
    ACTIVIST,
    BRANCH,
    BY,
    CONVERTED,
    TODAY,
    applicant,
    full_member,
    probationary,
    refused,
)

from domain.member import Member
from domain.vocabulary import Circumstance

D = date(2023, 3, 1)
COMMUNITY = uuid4()
ELSEWHERE = uuid4()


def _m(**kw: object) -> dict[str, object]:
    return {"effective_date": D, "recorded_on": TODAY, "by": BY} | kw


@pytest.mark.parametrize("circumstance", list(Circumstance))
def test_circumstances_are_set_and_cleared_with_dates(circumstance: Circumstance) -> None:
    m = applicant()
    refused("CIRCUMSTANCE_NOT_SET", m.clear_circumstance, m, **_m(circumstance=circumstance))
    m.set_circumstance(**_m(circumstance=circumstance))
    assert m.circumstances == {circumstance: D}
    refused("CIRCUMSTANCE_ALREADY_SET", m.set_circumstance, m, **_m(circumstance=circumstance))
    m.clear_circumstance(**_m(circumstance=circumstance, effective_date=D + timedelta(1)))
    assert m.circumstances == {}
    assert m.stage.value == "APPLICANT"  # an attribute, not a stage


def test_circumstances_combine() -> None:
    m = full_member()
    m.set_circumstance(**_m(circumstance=Circumstance.RETIRED))
    m.set_circumstance(**_m(circumstance=Circumstance.MOBILE))
    assert set(m.circumstances) == {Circumstance.RETIRED, Circumstance.MOBILE}


def test_circumstances_belong_to_the_person_across_episodes() -> None:
    m = applicant()
    m.set_circumstance(**_m(circumstance=Circumstance.RETIRED))
    m.withdraw(**_m())
    refused("EPISODE_CLOSED", m.clear_circumstance, m, **_m(circumstance=Circumstance.RETIRED))
    m.reapply(
        name="x",
        ethnicity="Han",
        education="x",
        occupation="x",
        phone="1",
        address="x",
        organisation_id=BRANCH,
        **_m(effective_date=date(2024, 1, 1)),
    )
    assert Circumstance.RETIRED in m.circumstances


# -- community reporting --------------------------------------------------------------


def _in_service() -> Member:
    m = full_member()
    m.set_circumstance(**_m(circumstance=Circumstance.IN_SERVICE))
    return m


def test_in_service_member_reports_to_a_community_without_changing_organisation() -> None:
    m = _in_service()
    m.register_with_community(**_m(community_id=COMMUNITY))
    assert (m.community_id, m.community_since, m.organisation_id) == (COMMUNITY, D, BRANCH)
    refused(
        "ALREADY_REGISTERED_WITH_COMMUNITY",
        m.register_with_community,
        m,
        **_m(community_id=ELSEWHERE),
    )
    m.end_community_registration(**_m(effective_date=date(2024, 1, 1)))
    assert m.community_id is None and m.organisation_id == BRANCH


def test_community_reporting_needs_the_in_service_circumstance() -> None:
    m = full_member()
    refused("CIRCUMSTANCE_REQUIRED", m.register_with_community, m, **_m(community_id=COMMUNITY))


def test_community_reporting_not_before_in_service_began() -> None:
    m = _in_service()
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.register_with_community,
        m,
        **_m(community_id=COMMUNITY, effective_date=D - timedelta(1)),
    )


def test_community_reporting_is_for_members() -> None:
    m = applicant()
    m.set_circumstance(**_m(circumstance=Circumstance.IN_SERVICE))
    refused("STAGE_TOO_EARLY", m.register_with_community, m, **_m(community_id=COMMUNITY))
    p = probationary()
    p.set_circumstance(**_m(circumstance=Circumstance.IN_SERVICE))
    p.register_with_community(**_m(community_id=COMMUNITY))


def test_in_service_cannot_be_cleared_while_reporting() -> None:
    m = _in_service()
    m.register_with_community(**_m(community_id=COMMUNITY))
    refused(
        "CIRCUMSTANCE_IN_USE", m.clear_circumstance, m, **_m(circumstance=Circumstance.IN_SERVICE)
    )


def test_only_a_current_registration_ends_or_gives_feedback() -> None:
    m = _in_service()
    refused("NOT_REGISTERED_WITH_COMMUNITY", m.end_community_registration, m, **_m())
    m.register_with_community(**_m(community_id=COMMUNITY))
    feedback = {"to_organisation_id": BRANCH, "summary": "volunteers every week"}
    refused(
        "NOT_REGISTERED_WITH_COMMUNITY",
        m.record_community_feedback,
        m,
        **_m(community_id=ELSEWHERE, **feedback),
    )
    m.record_community_feedback(**_m(community_id=COMMUNITY, **feedback))
    assert type(m.collect_events()[-1]).__name__ == "CommunityFeedbackSent"


# -- placement of mobile members -------------------------------------------------------


def _mobile() -> Member:
    m = full_member()
    m.set_circumstance(**_m(circumstance=Circumstance.MOBILE))
    return m


def test_mobile_member_is_placed_after_identity_verification() -> None:
    m = _mobile()
    refused(
        "IDENTITY_NOT_VERIFIED",
        m.place,
        m,
        **_m(organisation_id=ELSEWHERE, identity_verified=False),
    )
    m.place(**_m(organisation_id=ELSEWHERE, identity_verified=True, card_number="流动-001"))
    assert (m.placement_organisation_id, m.organisation_id) == (ELSEWHERE, BRANCH)
    refused(
        "ALREADY_PLACED",
        m.place,
        m,
        **_m(organisation_id=uuid4(), identity_verified=True),
    )
    refused("CIRCUMSTANCE_IN_USE", m.clear_circumstance, m, **_m(circumstance=Circumstance.MOBILE))
    m.end_placement(**_m(effective_date=date(2023, 9, 1)))
    assert m.placement_organisation_id is None
    refused("NOT_PLACED", m.end_placement, m, **_m(effective_date=date(2023, 9, 1)))
    m.clear_circumstance(**_m(circumstance=Circumstance.MOBILE, effective_date=date(2023, 9, 1)))


def test_placement_needs_the_mobile_circumstance() -> None:
    m = full_member()
    refused(
        "CIRCUMSTANCE_REQUIRED",
        m.place,
        m,
        **_m(organisation_id=ELSEWHERE, identity_verified=True),
    )


def test_placement_is_not_in_the_formal_organisation() -> None:
    m = _mobile()
    refused(
        "PLACEMENT_IN_OWN_ORGANISATION",
        m.place,
        m,
        **_m(organisation_id=BRANCH, identity_verified=True),
    )


def test_placement_not_before_admission() -> None:
    m = applicant()
    m.set_circumstance(**_m(circumstance=Circumstance.MOBILE, effective_date=ACTIVIST))
    refused(
        "STAGE_TOO_EARLY",
        m.place,
        m,
        **_m(organisation_id=ELSEWHERE, identity_verified=True),
    )
    f = full_member()
    f.set_circumstance(**_m(circumstance=Circumstance.MOBILE, effective_date=ACTIVIST))
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        f.place,
        f,
        **_m(organisation_id=ELSEWHERE, identity_verified=True, effective_date=date(2021, 5, 31)),
    )
    f.place(**_m(organisation_id=ELSEWHERE, identity_verified=True, effective_date=CONVERTED))


def test_an_exit_ends_placement_and_community_registration() -> None:
    m = _mobile()
    m.set_circumstance(**_m(circumstance=Circumstance.IN_SERVICE))
    m.place(**_m(organisation_id=ELSEWHERE, identity_verified=True))
    m.register_with_community(**_m(community_id=COMMUNITY))
    m.record_death(**_m())
    assert m.placement_organisation_id is None and m.community_id is None
