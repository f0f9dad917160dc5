"""Development stages: applicant → activist → development target → probationary → full."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest
from domain_builders import (
    ACTIVIST,
    APPROVED,
    BRANCH,
    BY,
    CONVERTED,
    DISTRICT_COMMITTEE,
    GENERAL_BRANCH,
    MEETING,
    PROBATION_END,
    REVIEWED,
    STREET_COMMITTEE,
    TARGET,
    TODAY,
    FakeSponsor,
    activist,
    admit,
    applicant,
    citizen_id,
    full_member,
    probationary,
    ready_target,
    refused,
    sponsors,
    target,
)

from domain.authority import Approver
from domain.dates import add_months
from domain.errors import DomainError
from domain.member import Member
from domain.policy import Policy
from domain.vocabulary import ExitKind, OrganisationKind, OrganisationLevel, Stage

# -- application ---------------------------------------------------------------


def test_applicant_must_be_18_on_the_application_date() -> None:
    m = applicant(applied=date(2008, 5, 17), birth=date(1990, 5, 17))
    assert (m.stage, m.episode) == (Stage.APPLICANT, 1)
    with pytest.raises(DomainError) as caught:
        applicant(applied=date(2008, 5, 16), birth=date(1990, 5, 17))
    assert caught.value.code == "TOO_YOUNG"
    assert caught.value.values["age"] == 17


def test_application_cannot_be_dated_after_it_is_recorded() -> None:
    with pytest.raises(DomainError) as caught:
        Member.apply(
            member_id=uuid4(),
            citizen_id=citizen_id(),
            name="x",
            ethnicity="Han",
            education="x",
            occupation="x",
            phone="1",
            address="x",
            organisation_id=BRANCH,
            effective_date=date(2024, 1, 2),
            recorded_on=date(2024, 1, 1),
            by=BY,
        )
    assert caught.value.code == "EFFECTIVE_DATE_IN_FUTURE"


# -- activist -------------------------------------------------------------------


def test_activist_decision_not_before_the_application() -> None:
    m = applicant()
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.admit_as_activist,
        m,
        decided_by=BRANCH,
        effective_date=date(2020, 2, 29),
        recorded_on=TODAY,
        by=BY,
    )
    m.admit_as_activist(
        decided_by=BRANCH, effective_date=date(2020, 3, 1), recorded_on=TODAY, by=BY
    )
    assert (m.stage, m.activist_since) == (Stage.ACTIVIST, date(2020, 3, 1))


def test_only_an_applicant_becomes_activist() -> None:
    m = activist()
    refused(
        "WRONG_STAGE",
        m.admit_as_activist,
        m,
        decided_by=BRANCH,
        effective_date=TARGET,
        recorded_on=TODAY,
        by=BY,
    )


# -- development target -----------------------------------------------------------


def test_development_target_needs_a_year_as_activist_364_vs_365_days() -> None:
    m = activist(since=date(2021, 3, 1))  # 2021-03-01 → 2022-03-01 is 365 days
    err = refused(
        "ACTIVIST_PERIOD_TOO_SHORT",
        m.admit_as_development_target,
        m,
        decided_by=BRANCH,
        effective_date=date(2022, 2, 28),
        recorded_on=TODAY,
        by=BY,
    )
    assert err.values["days_as_activist"] == 364
    m.admit_as_development_target(
        decided_by=BRANCH, effective_date=date(2022, 3, 1), recorded_on=TODAY, by=BY
    )
    assert m.stage is Stage.DEVELOPMENT_TARGET
    assert m.time_as_activist(date(2022, 3, 1)) == 365


def test_a_year_as_activist_counts_to_the_anniversary_across_29_february() -> None:
    m = activist(since=date(2023, 3, 1))  # the year to 2024-03-01 has 366 days
    refused(
        "ACTIVIST_PERIOD_TOO_SHORT",
        m.admit_as_development_target,
        m,
        decided_by=BRANCH,
        effective_date=date(2024, 2, 29),
        recorded_on=TODAY,
        by=BY,
    )
    m.admit_as_development_target(
        decided_by=BRANCH, effective_date=date(2024, 3, 1), recorded_on=TODAY, by=BY
    )


def test_activist_period_is_a_policy_number() -> None:
    m = activist(since=date(2021, 3, 1))
    m.admit_as_development_target(
        decided_by=BRANCH,
        effective_date=date(2021, 3, 1),
        recorded_on=TODAY,
        by=BY,
        policy=Policy(activist_min_years=0),
    )
    assert m.stage is Stage.DEVELOPMENT_TARGET


def test_applicant_cannot_skip_to_development_target() -> None:
    m = applicant()
    refused(
        "STAGE_TOO_EARLY",
        m.admit_as_development_target,
        m,
        decided_by=BRANCH,
        effective_date=TARGET,
        recorded_on=TODAY,
        by=BY,
    )


# -- preconditions of admission ----------------------------------------------------


def test_review_training_and_sponsors_only_for_a_development_target() -> None:
    m = activist()
    refused(
        "STAGE_TOO_EARLY",
        m.record_political_review,
        m,
        passed=True,
        reviewed_by=BRANCH,
        effective_date=REVIEWED,
        recorded_on=TODAY,
        by=BY,
    )
    refused(
        "STAGE_TOO_EARLY",
        m.record_training,
        m,
        days=3,
        hours=0,
        effective_date=REVIEWED,
        recorded_on=TODAY,
        by=BY,
    )
    refused(
        "STAGE_TOO_EARLY",
        m.name_sponsors,
        m,
        sponsors=sponsors(),
        effective_date=REVIEWED,
        recorded_on=TODAY,
        by=BY,
    )


def test_review_not_before_the_target_decision() -> None:
    m = target()
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.record_political_review,
        m,
        passed=True,
        reviewed_by=BRANCH,
        effective_date=TARGET - timedelta(days=1),
        recorded_on=TODAY,
        by=BY,
    )


def _prepared(
    review: bool | None = True, days: int = 3, hours: int = 0, named: bool = True
) -> Member:
    m = target()
    if review is not None:
        m.record_political_review(
            passed=review, reviewed_by=BRANCH, effective_date=REVIEWED, recorded_on=TODAY, by=BY
        )
    if days or hours:
        m.record_training(days=days, hours=hours, effective_date=REVIEWED, recorded_on=TODAY, by=BY)
    if named:
        m.name_sponsors(sponsors=sponsors(), effective_date=REVIEWED, recorded_on=TODAY, by=BY)
    return m


def _admission(m: Member, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "decided_by": BRANCH,
        "approver": STREET_COMMITTEE,
        "approved_on": APPROVED,
        "effective_date": MEETING,
        "recorded_on": TODAY,
        "by": BY,
    }
    return base | kw


@pytest.mark.parametrize("review", [None, False])
def test_admission_needs_a_passed_political_review(review: bool | None) -> None:
    m = _prepared(review=review)
    refused("POLITICAL_REVIEW_MISSING", m.admit_as_probationary, m, **_admission(m))


def test_a_failed_review_can_be_followed_by_a_passed_one() -> None:
    m = _prepared(review=False)
    m.record_political_review(
        passed=True, reviewed_by=BRANCH, effective_date=REVIEWED, recorded_on=TODAY, by=BY
    )
    admit(m)
    assert m.stage is Stage.PROBATIONARY


@pytest.mark.parametrize(
    ("days", "hours", "ok"),
    [(2, 0, False), (0, 23, False), (2, 23, False), (3, 0, True), (0, 24, True)],
)
def test_admission_needs_3_days_or_24_hours_of_training(days: int, hours: int, ok: bool) -> None:
    m = _prepared(days=days, hours=hours)
    if ok:
        admit(m)
        assert m.stage is Stage.PROBATIONARY
    else:
        refused("TRAINING_INSUFFICIENT", m.admit_as_probationary, m, **_admission(m))


def test_training_courses_add_up() -> None:
    m = _prepared(days=0, hours=12)
    m.record_training(days=0, hours=12, effective_date=REVIEWED, recorded_on=TODAY, by=BY)
    admit(m)
    assert (m.training_hours, m.stage) == (24, Stage.PROBATIONARY)


def test_training_needs_some_time() -> None:
    m = target()
    refused(
        "INVALID_REQUEST",
        m.record_training,
        m,
        days=0,
        hours=0,
        effective_date=REVIEWED,
        recorded_on=TODAY,
        by=BY,
    )


def test_admission_needs_sponsors() -> None:
    m = _prepared(named=False)
    refused("SPONSOR_COUNT", m.admit_as_probationary, m, **_admission(m))


@pytest.mark.parametrize("count", [0, 1, 3])
def test_exactly_two_sponsors(count: int) -> None:
    m = target()
    refused(
        "SPONSOR_COUNT",
        m.name_sponsors,
        m,
        sponsors=sponsors(count),
        effective_date=REVIEWED,
        recorded_on=TODAY,
        by=BY,
    )


def test_the_same_sponsor_twice_is_one_sponsor() -> None:
    m = target()
    one = FakeSponsor(uuid4())
    refused(
        "SPONSOR_COUNT",
        m.name_sponsors,
        m,
        sponsors=[one, one],
        effective_date=REVIEWED,
        recorded_on=TODAY,
        by=BY,
    )


def test_sponsors_must_be_full_members_in_good_standing() -> None:
    m = target()
    refused(
        "SPONSOR_NOT_ELIGIBLE",
        m.name_sponsors,
        m,
        sponsors=[FakeSponsor(uuid4()), FakeSponsor(uuid4(), may_sponsor=False)],
        effective_date=REVIEWED,
        recorded_on=TODAY,
        by=BY,
    )
    refused(
        "SPONSOR_NOT_ELIGIBLE",
        m.name_sponsors,
        m,
        sponsors=[FakeSponsor(uuid4()), FakeSponsor(m.id)],
        effective_date=REVIEWED,
        recorded_on=TODAY,
        by=BY,
    )


def test_member_aggregates_can_be_sponsors() -> None:
    a, b, p = full_member(), full_member(), probationary()
    assert a.may_sponsor and not p.may_sponsor
    m = target()
    m.name_sponsors(sponsors=[a, b], effective_date=REVIEWED, recorded_on=TODAY, by=BY)
    assert m.sponsor_ids == [a.id, b.id]
    refused(
        "SPONSOR_NOT_ELIGIBLE",
        m.name_sponsors,
        m,
        sponsors=[a, p],
        effective_date=REVIEWED,
        recorded_on=TODAY,
        by=BY,
    )


def test_admission_not_before_the_preconditions() -> None:
    m = ready_target()
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.admit_as_probationary,
        m,
        **_admission(m, effective_date=REVIEWED - timedelta(days=1)),
    )


# -- admission as probationary ------------------------------------------------------


def test_admission_runs_from_the_branch_meeting_not_the_approval() -> None:
    m = probationary()
    assert m.stage is Stage.PROBATIONARY
    assert (m.admitted_on, m.admission_approved_on) == (MEETING, APPROVED)
    assert m.stage_since == MEETING
    assert m.probation_ends_on == PROBATION_END == date(2022, 6, 1)
    assert m.is_member and not m.has_voting_rights


@pytest.mark.parametrize(
    "approver",
    [
        GENERAL_BRANCH,
        Approver(uuid4(), OrganisationKind.COMMITTEE, OrganisationLevel.COMMUNITY),
        Approver(uuid4(), OrganisationKind.BRANCH, OrganisationLevel.UNIT),
        Approver(uuid4(), OrganisationKind.TEMPORARY_BRANCH, OrganisationLevel.STREET),
        Approver(uuid4(), OrganisationKind.COMMITTEE, OrganisationLevel.STREET, date(2021, 1, 1)),
    ],
)
def test_admission_approved_only_by_a_committee_with_authority(approver: Approver) -> None:
    m = ready_target()
    refused("NO_APPROVAL_AUTHORITY", m.admit_as_probationary, m, **_admission(m, approver=approver))


@pytest.mark.parametrize(
    "approver",
    [
        STREET_COMMITTEE,
        DISTRICT_COMMITTEE,
        Approver(uuid4(), OrganisationKind.COMMITTEE, OrganisationLevel.UNIT),
    ],
)
def test_committees_above_community_level_approve(approver: Approver) -> None:
    m = ready_target()
    admit(m, approver=approver)
    assert m.stage is Stage.PROBATIONARY


def test_an_organisation_aggregate_can_be_the_approver() -> None:
    from organisation_builders import city, district, street

    district_committee = district(city())
    committee = street(district_committee)
    m = ready_target()
    admit(m, approver=committee)
    assert m.stage is Stage.PROBATIONARY


def test_approval_within_3_months_of_the_meeting() -> None:
    deadline = date(2021, 9, 1)
    m = ready_target()
    refused(
        "APPROVAL_WINDOW_EXCEEDED",
        m.admit_as_probationary,
        m,
        **_admission(m, approved_on=deadline + timedelta(days=1)),
    )
    admit(m, approved_on=deadline)
    assert m.admission_approved_on == deadline


def test_approval_within_6_months_at_most_with_a_reason() -> None:
    deadline = date(2021, 12, 1)
    m = ready_target()
    refused(
        "APPROVAL_WINDOW_EXCEEDED",
        m.admit_as_probationary,
        m,
        **_admission(m, approved_on=deadline + timedelta(days=1), delay_reason="committee vacancy"),
    )
    admit(m, approved_on=deadline, delay_reason="committee vacancy")
    assert m.stage is Stage.PROBATIONARY


def test_approval_window_is_a_policy_number() -> None:
    m = ready_target()
    admit(m, approved_on=date(2021, 10, 1), policy=Policy(admission_approval_months=4))
    assert m.stage is Stage.PROBATIONARY


def test_approval_not_before_the_meeting_nor_after_it_is_recorded() -> None:
    m = ready_target()
    refused(
        "APPROVAL_BEFORE_DECISION",
        m.admit_as_probationary,
        m,
        **_admission(m, approved_on=MEETING - timedelta(days=1)),
    )
    refused(
        "EFFECTIVE_DATE_IN_FUTURE",
        m.admit_as_probationary,
        m,
        **_admission(m, recorded_on=APPROVED - timedelta(days=1)),
    )


def test_admission_only_from_development_target() -> None:
    m = activist()
    refused("STAGE_TOO_EARLY", m.admit_as_probationary, m, **_admission(m))


# -- end of probation ------------------------------------------------------------------


def _decision(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "decided_by": BRANCH,
        "approver": STREET_COMMITTEE,
        "approved_on": PROBATION_END,
        "effective_date": PROBATION_END,
        "recorded_on": TODAY,
        "by": BY,
    }
    return base | kw


def test_conversion_at_the_end_of_probation_not_a_day_before() -> None:
    m = probationary()
    day_before = PROBATION_END - timedelta(days=1)
    refused(
        "PROBATION_NOT_ENDED",
        m.convert,
        m,
        **_decision(effective_date=day_before, approved_on=day_before),
    )
    m.convert(**_decision())
    assert (m.stage, m.full_since) == (Stage.FULL, PROBATION_END)
    assert m.has_voting_rights


def test_conversion_needs_authority() -> None:
    m = probationary()
    refused("NO_APPROVAL_AUTHORITY", m.convert, m, **_decision(approver=GENERAL_BRANCH))


def test_conversion_only_from_probation() -> None:
    m = ready_target()
    refused("STAGE_TOO_EARLY", m.convert, m, **_decision())
    m = full_member()
    refused("WRONG_STAGE", m.convert, m, **_decision(effective_date=CONVERTED))


def test_party_standing_counts_from_the_end_of_probation() -> None:
    m = full_member()  # branch resolution 2022-06-10, probation ended 2022-06-01
    assert m.full_since == PROBATION_END
    assert m.party_standing(date(2022, 5, 31)) is None
    assert m.party_standing(PROBATION_END) == 0
    assert m.party_standing(date(2027, 5, 31)) == 4
    assert m.party_standing(date(2027, 6, 1)) == 5
    assert probationary().party_standing(TODAY) is None


def test_party_standing_stops_at_an_exit() -> None:
    m = full_member()
    m.record_death(effective_date=date(2025, 6, 1), recorded_on=TODAY, by=BY)
    assert m.party_standing(TODAY) == 3


@pytest.mark.parametrize(("months", "ok"), [(5, False), (6, True), (12, True), (13, False)])
def test_extension_lasts_6_to_12_months(months: int, ok: bool) -> None:
    m = probationary()
    if ok:
        m.extend_probation(months=months, **_decision())
        assert m.probation_ends_on == add_months(PROBATION_END, months)
        assert m.stage is Stage.PROBATIONARY
    else:
        refused("EXTENSION_OUT_OF_RANGE", m.extend_probation, m, months=months, **_decision())


def test_probation_is_extended_once_and_conversion_waits_for_the_new_end() -> None:
    m = probationary()
    m.extend_probation(months=6, **_decision())
    assert m.probation_ends_on == date(2022, 12, 1)
    refused(
        "PROBATION_ALREADY_EXTENDED",
        m.extend_probation,
        m,
        months=6,
        **_decision(effective_date=date(2022, 12, 1), approved_on=date(2022, 12, 1)),
    )
    refused(
        "PROBATION_NOT_ENDED",
        m.convert,
        m,
        **_decision(effective_date=date(2022, 11, 30), approved_on=date(2022, 11, 30)),
    )
    m.convert(**_decision(effective_date=date(2022, 12, 1), approved_on=date(2022, 12, 1)))
    assert m.full_since == date(2022, 12, 1)


def test_extension_decided_at_the_end_of_probation() -> None:
    m = probationary()
    refused(
        "PROBATION_NOT_ENDED",
        m.extend_probation,
        m,
        months=6,
        **_decision(effective_date=date(2022, 5, 1), approved_on=date(2022, 5, 1)),
    )


def test_cancellation_of_probation_ends_the_episode() -> None:
    m = probationary()
    m.cancel_probation(reason="did not meet the conditions", **_decision())
    assert (m.exit_kind, m.exited_on, m.episode_open) == (ExitKind.CANCELLED, PROBATION_END, False)
    assert not m.is_member


def test_cancellation_needs_authority_and_probation() -> None:
    m = probationary()
    refused(
        "NO_APPROVAL_AUTHORITY",
        m.cancel_probation,
        m,
        reason="x",
        **_decision(approver=GENERAL_BRANCH),
    )
    m = full_member()
    refused(
        "WRONG_STAGE",
        m.cancel_probation,
        m,
        reason="x",
        **_decision(effective_date=CONVERTED, approved_on=CONVERTED),
    )


def test_every_stage_is_reachable_for_laid_off_and_mobile_people() -> None:
    from domain.vocabulary import Circumstance

    m = applicant()
    for c in (Circumstance.LAID_OFF, Circumstance.MOBILE):
        m.set_circumstance(circumstance=c, effective_date=ACTIVIST, recorded_on=TODAY, by=BY)
    m.admit_as_activist(decided_by=BRANCH, effective_date=ACTIVIST, recorded_on=TODAY, by=BY)
    m.admit_as_development_target(
        decided_by=BRANCH, effective_date=TARGET, recorded_on=TODAY, by=BY
    )
    m.record_political_review(
        passed=True, reviewed_by=BRANCH, effective_date=REVIEWED, recorded_on=TODAY, by=BY
    )
    m.record_training(days=3, hours=0, effective_date=REVIEWED, recorded_on=TODAY, by=BY)
    m.name_sponsors(sponsors=sponsors(), effective_date=REVIEWED, recorded_on=TODAY, by=BY)
    admit(m)
    m.convert(**_decision())
    assert m.stage is Stage.FULL
