"""Effective dates: late changes are accepted when they agree with history (domain.member)."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest
from domain_builders import (
    BRANCH,
    BY,
    CONVERTED,
    TODAY,
    activist,
    full_member,
    refused,
)

from domain.dates import add_months, add_years, whole_years_between
from domain.vocabulary import Circumstance, Standing

D = date(2023, 3, 1)


def test_add_months_keeps_the_day_or_takes_the_last_of_the_month() -> None:
    assert add_months(date(2021, 6, 1), 3) == date(2021, 9, 1)
    assert add_months(date(2021, 8, 31), 1) == date(2021, 9, 30)
    assert add_months(date(2021, 11, 30), 3) == date(2022, 2, 28)
    assert add_months(date(2021, 12, 15), 1) == date(2022, 1, 15)
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)


def test_whole_years_between() -> None:
    assert whole_years_between(date(2020, 6, 1), date(2021, 5, 31)) == 0
    assert whole_years_between(date(2020, 6, 1), date(2021, 6, 1)) == 1
    assert whole_years_between(date(2020, 6, 1), date(2019, 1, 1)) == 0


def test_no_command_takes_effect_after_it_is_recorded() -> None:
    m = full_member()
    refused(
        "EFFECTIVE_DATE_IN_FUTURE",
        m.set_circumstance,
        m,
        circumstance=Circumstance.RETIRED,
        effective_date=date(2023, 3, 2),
        recorded_on=date(2023, 3, 1),
        by=BY,
    )
    m.set_circumstance(
        circumstance=Circumstance.RETIRED,
        effective_date=date(2023, 3, 1),
        recorded_on=date(2023, 3, 1),
        by=BY,
    )


def test_a_late_change_of_another_thing_is_accepted() -> None:
    m = full_member()
    m.start_transfer(
        to_organisation_id=uuid4(),
        letter_number="L-1",
        valid_days=None,
        effective_date=D,
        recorded_on=TODAY,
        by=BY,
    )
    # Learned later: the member retired before the transfer, and was given a
    # correction before it too. Neither contradicts the transfer.
    m.set_circumstance(
        circumstance=Circumstance.RETIRED,
        effective_date=date(2022, 12, 1),
        recorded_on=TODAY,
        by=BY,
    )
    m.order_correction(
        until=date(2023, 6, 1),
        decided_by=BRANCH,
        effective_date=date(2022, 12, 1),
        recorded_on=TODAY,
        by=BY,
    )
    assert m.latest_effective_date == D
    assert m.standing is Standing.CORRECTION


def test_a_late_change_of_the_same_thing_is_refused() -> None:
    m = full_member()
    m.order_correction(
        until=date(2023, 6, 1), decided_by=BRANCH, effective_date=D, recorded_on=TODAY, by=BY
    )
    m.end_correction(effective_date=date(2023, 5, 1), recorded_on=TODAY, by=BY)
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.impose_party_probation,
        m,
        until=date(2024, 1, 1),
        decided_by=BRANCH,
        effective_date=date(2023, 4, 1),
        recorded_on=TODAY,
        by=BY,
    )


def test_a_late_circumstance_change_before_its_own_latest_change_is_refused() -> None:
    m = full_member()
    m.set_circumstance(
        circumstance=Circumstance.RETIRED, effective_date=D, recorded_on=TODAY, by=BY
    )
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.clear_circumstance,
        m,
        circumstance=Circumstance.RETIRED,
        effective_date=D - timedelta(days=1),
        recorded_on=TODAY,
        by=BY,
    )


def test_a_late_transfer_before_the_latest_transfer_change_is_refused() -> None:
    m = full_member()
    m.start_transfer(
        to_organisation_id=uuid4(),
        letter_number="L-1",
        valid_days=None,
        effective_date=D,
        recorded_on=TODAY,
        by=BY,
    )
    m.refuse_transfer(letter_number="L-1", reason="x", effective_date=D, recorded_on=TODAY, by=BY)
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.start_transfer,
        m,
        to_organisation_id=uuid4(),
        letter_number="L-2",
        valid_days=None,
        effective_date=D - timedelta(days=1),
        recorded_on=TODAY,
        by=BY,
    )


def test_a_late_transfer_before_a_stage_change_is_accepted() -> None:
    m = activist(since=date(2021, 3, 1))
    m.admit_as_development_target(
        decided_by=BRANCH, effective_date=date(2022, 3, 1), recorded_on=TODAY, by=BY
    )
    m.start_transfer(
        to_organisation_id=uuid4(),
        letter_number="F-1",
        valid_days=None,
        effective_date=date(2021, 9, 1),
        recorded_on=TODAY,
        by=BY,
    )
    assert m.transfer is not None


@pytest.mark.parametrize("days_before", [1, 30])
def test_nothing_before_the_application(days_before: int) -> None:
    m = full_member()
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.set_circumstance,
        m,
        circumstance=Circumstance.RETIRED,
        effective_date=m.applied_on - timedelta(days=days_before),
        recorded_on=TODAY,
        by=BY,
    )


def test_exits_cut_history_so_they_follow_every_recorded_change() -> None:
    m = full_member()
    m.set_circumstance(
        circumstance=Circumstance.RETIRED, effective_date=D, recorded_on=TODAY, by=BY
    )
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.withdraw,
        m,
        effective_date=CONVERTED,
        recorded_on=TODAY,
        by=BY,
    )
    m.withdraw(effective_date=D, recorded_on=TODAY, by=BY)


def test_events_carry_the_effective_date_and_the_recorded_time() -> None:
    m = full_member()
    events = m.collect_events()
    assert all(isinstance(e.effective_date, date) for e in events)  # type: ignore[attr-defined]
    assert all(e.timestamp.tzinfo is not None for e in events)
    assert events[-1].effective_date == CONVERTED  # type: ignore[attr-defined]
