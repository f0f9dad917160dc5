"""Rules that DOMAIN.md marks *policy*: configuration with the documented defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    # 介绍信 validity: "generally 30 days, at most 3 months".
    transfer_letter_default_days: int = 30
    transfer_letter_max_days: int = 92
    # 回执 (return slip) must come back within a month.
    return_slip_days: int = 31
    # A branch holds at most 50 members; 50–100 suggests a general branch; 100+ a committee.
    branch_max_members: int = 50
    general_branch_max_members: int = 100
    # Minimum age on the application date (party constitution, not policy, kept here
    # so tests of the boundary read one number).
    minimum_application_age: int = 18


DEFAULT_POLICY = Policy()
