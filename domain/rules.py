"""Checks shared by the aggregates: each raises a DomainError or returns nothing."""

from __future__ import annotations

from datetime import date

from domain.errors import DomainError
from domain.identity import age_on
from domain.policy import Policy


def not_in_future(effective_date: date, recorded_on: date | None) -> None:
    if recorded_on is not None and effective_date > recorded_on:
        raise DomainError(
            "EFFECTIVE_DATE_IN_FUTURE",
            "the effective date is after the day the registry learns of it",
            effective_date=effective_date.isoformat(),
            recorded_on=recorded_on.isoformat(),
        )


def not_before(earliest: date | None, effective_date: date, what: str) -> None:
    if earliest is not None and effective_date < earliest:
        raise DomainError(
            "EFFECTIVE_DATE_BEFORE_HISTORY",
            f"the effective date precedes the {what}",
            effective_date=effective_date.isoformat(),
            earliest=earliest.isoformat(),
        )


def old_enough(birth_date: date, effective_date: date, policy: Policy) -> None:
    age = age_on(birth_date, effective_date)
    if age < policy.minimum_application_age:
        raise DomainError(
            "TOO_YOUNG",
            f"must be at least {policy.minimum_application_age} on the application date",
            age=age,
            application_date=effective_date.isoformat(),
        )
