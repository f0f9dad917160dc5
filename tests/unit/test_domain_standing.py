"""Standing of full members, exits, and new membership episodes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from domain_builders import (
    APPLIED,
    BRANCH,
    BY,
    CONVERTED,
    DISTRICT_COMMITTEE,
    OTHER_BRANCH,
    STREET_COMMITTEE,
    TODAY,
    activist,
    applicant,
    full_member,
    probationary,
    refused,
)

from domain.authority import Approver
from domain.member import Member
from domain.policy import Policy
from domain.vocabulary import (
    ExitKind,
    OrganisationKind,
    OrganisationLevel,
    Stage,
    Standing,
    SuspensionReason,
)

D = date(2023, 3, 1)  # a day well after conversion


def _m(**kw: object) -> dict[str, object]:
    return {"effective_date": D, "recorded_on": TODAY, "by": BY} | kw


# -- time-limited correction ------------------------------------------------------


def test_correction_lasts_at_most_one_year() -> None:
    m = full_member()
    refused(
        "CORRECTION_TOO_LONG",
        m.order_correction,
        m,
        **_m(until=date(2024, 3, 2), decided_by=BRANCH),
    )
    refused("CORRECTION_TOO_LONG", m.order_correction, m, **_m(until=D, decided_by=BRANCH))
    m.order_correction(**_m(until=date(2024, 3, 1), decided_by=BRANCH))
    assert (m.standing, m.standing_until) == (Standing.CORRECTION, date(2024, 3, 1))
    assert m.has_voting_rights


def test_correction_ends_back_in_normal_standing() -> None:
    m = full_member()
    refused("WRONG_STANDING", m.end_correction, m, **_m())
    m.order_correction(**_m(until=date(2023, 9, 1), decided_by=BRANCH))
    refused(
        "WRONG_STANDING", m.order_correction, m, **_m(until=date(2023, 9, 1), decided_by=BRANCH)
    )
    m.end_correction(**_m(effective_date=date(2023, 6, 1)))
    assert m.standing is Standing.NORMAL


def test_measures_on_standing_are_for_full_members() -> None:
    m = probationary()
    refused(
        "STAGE_TOO_EARLY",
        m.order_correction,
        m,
        **_m(until=date(2023, 9, 1), decided_by=BRANCH),
    )
    refused(
        "STAGE_TOO_EARLY",
        m.suspend,
        m,
        **_m(reason=SuspensionReason.SETTLED_ABROAD, out_of_touch_since=None, decided_by=BRANCH),
    )


# -- party probation as a sanction -------------------------------------------------


def test_party_probation_lasts_at_most_two_years_without_voting_rights() -> None:
    m = full_member()
    refused(
        "PARTY_PROBATION_TOO_LONG",
        m.impose_party_probation,
        m,
        **_m(until=date(2025, 3, 2), decided_by=BRANCH),
    )
    m.impose_party_probation(**_m(until=date(2025, 3, 1), decided_by=BRANCH))
    assert m.standing is Standing.PARTY_PROBATION
    assert m.is_member and not m.has_voting_rights and not m.may_sponsor


def test_party_probation_may_follow_a_correction() -> None:
    m = full_member()
    m.order_correction(**_m(until=date(2023, 9, 1), decided_by=BRANCH))
    m.impose_party_probation(**_m(until=date(2024, 3, 1), decided_by=BRANCH))
    assert m.standing is Standing.PARTY_PROBATION


def test_rights_come_back_when_the_period_is_over() -> None:
    m = full_member()
    m.impose_party_probation(**_m(until=date(2024, 3, 1), decided_by=BRANCH))
    refused(
        "PARTY_PROBATION_NOT_ENDED",
        m.end_party_probation,
        m,
        **_m(effective_date=date(2024, 2, 29)),
    )
    m.end_party_probation(**_m(effective_date=date(2024, 3, 1)))
    assert m.standing is Standing.NORMAL and m.has_voting_rights


def test_party_probation_limit_is_a_policy_number() -> None:
    m = full_member()
    m.impose_party_probation(
        **_m(until=date(2026, 3, 1), decided_by=BRANCH),
        policy=Policy(party_probation_max_months=36),
    )
    assert m.standing_until == date(2026, 3, 1)


# -- suspension and restoration ----------------------------------------------------


def test_suspension_needs_6_months_out_of_touch() -> None:
    m = full_member()
    refused(
        "LOST_CONTACT_TOO_SHORT",
        m.suspend,
        m,
        **_m(
            reason=SuspensionReason.LOST_CONTACT,
            out_of_touch_since=date(2022, 9, 2),
            decided_by=BRANCH,
        ),
    )
    refused(
        "LOST_CONTACT_TOO_SHORT",
        m.suspend,
        m,
        **_m(reason=SuspensionReason.LOST_CONTACT, out_of_touch_since=None, decided_by=BRANCH),
    )
    # Out of touch since a day after the suspension, up to the calendar's last day (six
    # months on from it there is no date: once a ValueError that stopped the ingest).
    for since in (D + timedelta(days=1), date(9999, 7, 1), date(9999, 12, 31)):
        refused(
            "LOST_CONTACT_TOO_SHORT",
            m.suspend,
            m,
            **_m(reason=SuspensionReason.LOST_CONTACT, out_of_touch_since=since,
                 decided_by=BRANCH),
        )  # fmt: skip
    m.suspend(
        **_m(
            reason=SuspensionReason.LOST_CONTACT,
            out_of_touch_since=date(2022, 9, 1),
            decided_by=BRANCH,
        )
    )
    assert m.standing is Standing.SUSPENDED and not m.has_voting_rights


def test_settling_abroad_suspends_at_once() -> None:
    m = full_member()
    m.suspend(
        **_m(reason=SuspensionReason.SETTLED_ABROAD, out_of_touch_since=None, decided_by=BRANCH)
    )
    assert m.standing is Standing.SUSPENDED
    assert m.is_member  # suspension is not an exit


def _suspended() -> Member:
    m = full_member()
    m.suspend(
        **_m(reason=SuspensionReason.SETTLED_ABROAD, out_of_touch_since=None, decided_by=BRANCH)
    )
    return m


def test_restoration_only_from_suspension() -> None:
    m = full_member()
    refused("NOT_SUSPENDED", m.restore, m, **_m(decided_by=BRANCH))
    m.impose_party_probation(**_m(until=date(2024, 3, 1), decided_by=BRANCH))
    refused("NOT_SUSPENDED", m.restore, m, **_m(decided_by=BRANCH))
    s = _suspended()
    s.restore(**_m(effective_date=date(2024, 1, 1), decided_by=BRANCH))
    assert s.standing is Standing.NORMAL


def test_a_suspended_member_cannot_be_suspended_or_sanctioned_again() -> None:
    m = _suspended()
    refused(
        "WRONG_STANDING",
        m.suspend,
        m,
        **_m(reason=SuspensionReason.SETTLED_ABROAD, out_of_touch_since=None, decided_by=BRANCH),
    )


def test_removal_after_two_years_of_suspension() -> None:
    m = _suspended()
    refused(
        "SUSPENSION_TOO_SHORT",
        m.remove,
        m,
        **_m(effective_date=date(2025, 2, 28), reason="suspended", decided_by=BRANCH),
    )
    m.remove(**_m(effective_date=date(2025, 3, 1), reason="suspended", decided_by=BRANCH))
    assert m.exit_kind is ExitKind.REMOVED


# -- exits -------------------------------------------------------------------------


def test_removal_of_a_full_member() -> None:
    m = full_member()
    m.remove(**_m(reason="six months without party life or dues", decided_by=BRANCH))
    assert (m.exit_kind, m.exited_on, m.is_member) == (ExitKind.REMOVED, D, False)
    assert m.party_standing(TODAY) == 0


def test_removal_is_for_full_members() -> None:
    m = probationary()
    refused("STAGE_TOO_EARLY", m.remove, m, **_m(reason="x", decided_by=BRANCH))


@pytest.mark.parametrize(
    "approver",
    [
        STREET_COMMITTEE,
        Approver(
            DISTRICT_COMMITTEE.id, OrganisationKind.GENERAL_BRANCH, OrganisationLevel.DISTRICT
        ),
    ],
)
def test_expulsion_needs_a_committee_at_county_level_or_above(approver: Approver) -> None:
    m = full_member()
    refused(
        "NO_APPROVAL_AUTHORITY",
        m.expel,
        m,
        **_m(reason="x", decided_by=BRANCH, approver=approver, approved_on=D),
    )


@pytest.mark.parametrize("level", [OrganisationLevel.DISTRICT, OrganisationLevel.CITY])
def test_expulsion_by_a_district_or_city_committee(level: OrganisationLevel) -> None:
    m = full_member()
    approver = Approver(DISTRICT_COMMITTEE.id, OrganisationKind.COMMITTEE, level)
    m.expel(**_m(reason="x", decided_by=BRANCH, approver=approver, approved_on=D))
    assert m.exit_kind is ExitKind.EXPELLED


def test_expulsion_approval_not_before_the_decision() -> None:
    m = full_member()
    refused(
        "APPROVAL_BEFORE_DECISION",
        m.expel,
        m,
        **_m(
            reason="x",
            decided_by=BRANCH,
            approver=DISTRICT_COMMITTEE,
            approved_on=D - timedelta(days=1),
        ),
    )


def test_withdrawal_at_any_stage() -> None:
    for m in (applicant(), activist(), probationary(), full_member()):
        m.withdraw(**_m(reason="personal"))
        assert m.exit_kind is ExitKind.WITHDRAWN


def test_death_at_any_stage() -> None:
    for m in (applicant(), full_member()):
        m.record_death(**_m())
        assert m.exit_kind is ExitKind.DIED


def test_an_exit_may_not_precede_any_recorded_change() -> None:
    m = full_member()
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.record_death,
        m,
        **_m(effective_date=CONVERTED - timedelta(days=1)),
    )
    m.record_death(**_m(effective_date=CONVERTED))


def test_after_an_exit_nothing_but_a_new_application() -> None:
    m = full_member()
    m.withdraw(**_m())
    refused("EPISODE_CLOSED", m.withdraw, m, **_m())
    refused(
        "EPISODE_CLOSED", m.order_correction, m, **_m(until=date(2023, 9, 1), decided_by=BRANCH)
    )
    refused(
        "EPISODE_CLOSED",
        m.start_transfer,
        m,
        **_m(to_organisation_id=OTHER_BRANCH, letter_number="L1", valid_days=None),
    )


# -- a new membership episode ---------------------------------------------------------


def _reapply(**kw: object) -> dict[str, object]:
    return {
        "name": "Li Lei",
        "ethnicity": "Han",
        "education": "master",
        "occupation": "teacher",
        "phone": "1",
        "address": "2 Short Street",
        "organisation_id": OTHER_BRANCH,
        "effective_date": date(2024, 1, 1),
        "recorded_on": TODAY,
        "by": BY,
    } | kw


def test_an_open_episode_cannot_apply_again() -> None:
    m = applicant()
    refused("ALREADY_A_MEMBER", m.reapply, m, **_reapply())
    m = _suspended()
    refused("ALREADY_A_MEMBER", m.reapply, m, **_reapply())


def test_a_new_application_opens_a_new_episode_in_the_same_aggregate() -> None:
    m = full_member()
    first_id = m.id
    m.expel(**_m(reason="x", decided_by=BRANCH, approver=DISTRICT_COMMITTEE, approved_on=D))
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY", m.reapply, m, **_reapply(effective_date=D - timedelta(1))
    )
    m.reapply(**_reapply())
    assert m.id == first_id
    assert (m.episode, m.stage, m.episode_open) == (2, Stage.APPLICANT, True)
    assert (m.organisation_id, m.applied_on, m.occupation) == (
        OTHER_BRANCH,
        date(2024, 1, 1),
        "teacher",
    )
    assert m.full_since is None and m.activist_since is None
    [past] = m.past_episodes
    assert (past.episode, past.applied_on, past.exit_kind, past.exited_on) == (
        1,
        APPLIED,
        ExitKind.EXPELLED,
        D,
    )
    assert past.full_since is not None
    # Standing starts again from nothing: the earlier episode does not count.
    assert m.party_standing(TODAY) is None


def test_the_new_episode_goes_through_every_stage_again() -> None:
    m = activist()
    m.withdraw(**_m())
    m.reapply(**_reapply())
    refused(
        "STAGE_TOO_EARLY",
        m.admit_as_development_target,
        m,
        **_m(effective_date=date(2025, 1, 1), decided_by=BRANCH),
    )
    m.admit_as_activist(**_m(effective_date=date(2024, 2, 1), decided_by=BRANCH))
    refused(
        "ACTIVIST_PERIOD_TOO_SHORT",
        m.admit_as_development_target,
        m,
        **_m(effective_date=date(2025, 1, 31), decided_by=BRANCH),
    )


def test_nothing_in_the_new_episode_before_its_application() -> None:
    m = applicant()
    m.withdraw(**_m(effective_date=date(2021, 1, 1)))
    m.reapply(**_reapply())
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.admit_as_activist,
        m,
        **_m(effective_date=date(2023, 12, 31), decided_by=BRANCH),
    )
