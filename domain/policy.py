"""The numbers the rules count with, as configuration with documented defaults.

Fields marked *policy* are what DOMAIN.md marks policy (not confirmed as national
rules). The others are rules of the party constitution and regulations; they sit
here so that a test of a boundary and the rule read the same number.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    # *policy* 介绍信 validity: "generally 30 days, at most 3 months".
    transfer_letter_default_days: int = 30
    transfer_letter_max_days: int = 92
    # *policy* 回执 (return slip) must come back within a month; a later one is
    # recorded as late, not refused (it reports a fact).
    return_slip_days: int = 31
    # *policy* A branch holds at most 50 members; up to 100 suggests a general
    # branch; more than 100 a committee.
    branch_max_members: int = 50
    general_branch_max_members: int = 100
    # Minimum age on the application date.
    minimum_application_age: int = 18
    # The organisation talks with an applicant (入党谈话) "within 1 month" of the
    # application; counted as days after the application date, the talk on day 31 is
    # in time, on day 32 late (*policy*: the month as 31 days).
    application_talk_days: int = 31
    # Time as activist before becoming a development target.
    activist_min_years: int = 1
    # Training of a development target: 3 days, or 24 class hours.
    training_min_days: int = 3
    training_min_hours: int = 24
    # Full-member sponsors (入党介绍人) needed for admission.
    sponsors_required: int = 2
    # *policy* The approving committee decides within 3 months of the branch
    # meeting; with a stated reason the window stretches to 6 at most.
    admission_approval_months: int = 3
    admission_approval_max_months: int = 6
    # *policy* "A candidate who leaves their unit within 3 months of admission is
    # generally not admitted there": a development target whose formal organisation
    # changed (transfer accepted) less than this many months before the branch
    # meeting is admitted only with a stated exception reason (0 turns the check off).
    admission_min_months_in_unit: int = 3
    # *policy* A resident unit hears the opinion of the community a member reports to
    # before admitting them; without one the admission is shown in the compliance
    # views (False, the default: a warning) or refused (True).
    community_opinion_required: bool = False
    # Probation lasts 1 year; it may be extended once, for 6 to 12 months.
    probation_years: int = 1
    probation_extension_min_months: int = 6
    probation_extension_max_months: int = 12
    # Time-limited correction (限期改正) lasts at most 1 year; party probation
    # as a sanction (留党察看) at most 2 years.
    correction_max_months: int = 12
    party_probation_max_months: int = 24
    # Suspension (停止党籍) after at least 6 months of lost contact; removal
    # (除名) after 2 years of suspension.
    lost_contact_min_months: int = 6
    suspension_before_removal_years: int = 2
    # A joint branch (联合党支部) covers at most 5 units.
    joint_branch_max_units: int = 5
    # A community or unit with this many full members needs its own organisation.
    own_organisation_min_full_members: int = 3


DEFAULT_POLICY = Policy()
