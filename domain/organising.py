"""Where organisations are needed, and of what kind: pure functions over plain counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from domain.policy import DEFAULT_POLICY, Policy
from domain.vocabulary import OrganisationKind


class UnitStatus(NamedTuple):
    """A community or unit as the rosters see it on a day."""

    full_members: int
    has_own_organisation: bool


def units_needing_organisation(
    units: Mapping[str, UnitStatus | tuple[int, bool]], policy: Policy = DEFAULT_POLICY
) -> list[str]:
    """Codes of communities or units with 3+ full members and no organisation of their own.

    "凡有3名以上正式党员的社区，都要单独建立社区党组织": sorted, for a stable report.
    """
    return sorted(
        code
        for code, (full_members, has_own) in units.items()
        if full_members >= policy.own_organisation_min_full_members and not has_own
    )


def suggest_kind(member_count: int, policy: Policy = DEFAULT_POLICY) -> OrganisationKind:
    """The kind of organisation a body of `member_count` full members suggests.

    Fewer than 3: a joint branch with other small units; up to 50: a branch; up to
    100: a general branch; more: a committee (*policy* thresholds, both inclusive).
    """
    if member_count < policy.own_organisation_min_full_members:
        return OrganisationKind.JOINT_BRANCH
    if member_count <= policy.branch_max_members:
        return OrganisationKind.BRANCH
    if member_count <= policy.general_branch_max_members:
        return OrganisationKind.GENERAL_BRANCH
    return OrganisationKind.COMMITTEE
