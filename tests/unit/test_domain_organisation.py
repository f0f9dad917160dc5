"""Organisations: levels and kinds, units of a joint branch, merge and dissolution, authority."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from domain_builders import BY, refused
from organisation_builders import FOUNDED, city, community, district, org, street

from domain.authority import may_approve_admission, may_approve_expulsion
from domain.errors import DomainError
from domain.organisation import Organisation
from domain.organising import UnitStatus, suggest_kind, units_needing_organisation
from domain.policy import Policy
from domain.vocabulary import OrganisationKind, OrganisationLevel

K, L = OrganisationKind, OrganisationLevel
D = date(2023, 3, 1)


def _m(**kw: object) -> dict[str, object]:
    return {"effective_date": D, "by": BY} | kw


def _tree() -> tuple[Organisation, Organisation, Organisation]:
    c = city()
    d = district(c)
    return c, d, street(d)


@pytest.mark.parametrize(
    ("level", "parent_level"),
    [(L.CITY, None), (L.DISTRICT, L.CITY), (L.STREET, L.DISTRICT), (L.COMMUNITY, L.STREET)],
)
def test_every_level_hangs_one_level_down(level: L, parent_level: L | None) -> None:
    c, d, s = _tree()
    parents = {None: None, L.CITY: c, L.DISTRICT: d, L.STREET: s}
    assert org(level, parents[parent_level]).level is level
    wrong = c if parent_level is not L.CITY else s
    with pytest.raises(DomainError) as caught:
        org(level, wrong)
    assert caught.value.code == "INVALID_PARENT"


@pytest.mark.parametrize("kind", list(OrganisationKind))
def test_every_kind_can_be_established_under_a_street(kind: K) -> None:
    _, _, s = _tree()
    unit = org(L.UNIT, s, kind)
    assert (unit.kind, unit.active, unit.established_on) == (kind, True, FOUNDED)


def test_established_not_after_it_is_recorded() -> None:
    with pytest.raises(DomainError) as caught:
        org(L.CITY, None, recorded_on=FOUNDED - timedelta(days=1))
    assert caught.value.code == "EFFECTIVE_DATE_IN_FUTURE"


def test_rename_and_reparent_not_before_establishment() -> None:
    c, _d, s = _tree()
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        s.rename,
        s,
        **_m(name="x", effective_date=FOUNDED - timedelta(1)),
    )
    s.rename(**_m(name="Riverside Street Working Committee"))
    d2 = district(c)
    s.reparent(**_m(parent=d2))
    assert (s.name, s.parent_id) == ("Riverside Street Working Committee", d2.id)
    refused("INVALID_PARENT", s.reparent, s, **_m(parent=c))


# -- joint branches ------------------------------------------------------------------


def test_a_joint_branch_covers_at_most_5_units() -> None:
    _, _, s = _tree()
    jb = org(L.UNIT, s, K.JOINT_BRANCH, covered_units=["u1", "u2", "u3", "u4"])
    assert jb.covered_units == ["u1", "u2", "u3", "u4"]
    refused("UNIT_ALREADY_COVERED", jb.cover_unit, jb, **_m(unit_code="u1"))
    jb.cover_unit(**_m(unit_code="u5"))
    refused("JOINT_BRANCH_FULL", jb.cover_unit, jb, **_m(unit_code="u6"))
    jb.release_unit(**_m(unit_code="u2"))
    refused("UNIT_NOT_COVERED", jb.release_unit, jb, **_m(unit_code="u2"))
    jb.cover_unit(**_m(unit_code="u6"))
    assert jb.covered_units == ["u1", "u3", "u4", "u5", "u6"]


def test_a_joint_branch_cannot_be_established_over_6_units() -> None:
    _, _, s = _tree()
    with pytest.raises(DomainError) as caught:
        org(L.UNIT, s, K.JOINT_BRANCH, covered_units=[f"u{i}" for i in range(6)])
    assert caught.value.code == "JOINT_BRANCH_FULL"


def test_joint_branch_limit_is_a_policy_number() -> None:
    _, _, s = _tree()
    units = [f"u{i}" for i in range(6)]
    jb = org(
        L.UNIT, s, K.JOINT_BRANCH, covered_units=units, policy=Policy(joint_branch_max_units=6)
    )
    assert len(jb.covered_units) == 6


def test_only_a_joint_branch_covers_units() -> None:
    _, _, s = _tree()
    b = community(s)
    refused("NOT_A_JOINT_BRANCH", b.cover_unit, b, **_m(unit_code="u1"))


# -- merge and dissolution ------------------------------------------------------------


def test_merge_only_when_empty_into_another_of_the_same_level() -> None:
    _, _, s = _tree()
    a, b = community(s), community(s)
    refused("ORGANISATION_NOT_EMPTY", a.merge_into, a, **_m(target=b, member_count=1))
    refused(
        "ORGANISATION_NOT_EMPTY", a.merge_into, a, **_m(target=b, member_count=0, child_count=1)
    )
    refused("INVALID_MERGE_TARGET", a.merge_into, a, **_m(target=a, member_count=0))
    refused("INVALID_MERGE_TARGET", a.merge_into, a, **_m(target=s, member_count=0))
    a.merge_into(**_m(target=b, member_count=0))
    assert (a.active, a.merged_into_id, a.dissolved_on) == (False, b.id, D)
    c = community(s)
    refused("INVALID_MERGE_TARGET", c.merge_into, c, **_m(target=a, member_count=0))


def test_dissolution_only_when_empty_and_then_no_changes() -> None:
    _, _, s = _tree()
    a = community(s)
    refused("ORGANISATION_NOT_EMPTY", a.dissolve, a, **_m(member_count=3))
    a.dissolve(**_m(member_count=0))
    assert not a.active
    refused("ORGANISATION_DISSOLVED", a.rename, a, **_m(name="x"))
    refused("ORGANISATION_DISSOLVED", a.dissolve, a, **_m(member_count=0))


def test_no_move_under_a_dissolved_parent() -> None:
    _, d, s = _tree()
    gone = street(d)
    gone.dissolve(**_m(member_count=0))
    unit = org(L.UNIT, s, K.BRANCH)
    refused("ORGANISATION_DISSOLVED", unit.reparent, unit, **_m(parent=gone))


def test_closing_may_not_precede_a_recorded_change() -> None:
    _, _, s = _tree()
    a = community(s)
    a.rename(**_m(name="x"))
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        a.dissolve,
        a,
        **_m(member_count=0, effective_date=D - timedelta(1)),
    )


def test_no_new_organisation_under_a_dissolved_parent() -> None:
    _c, _d, s = _tree()
    s.dissolve(**_m(member_count=0))
    with pytest.raises(DomainError) as caught:
        community(s)
    assert caught.value.code == "ORGANISATION_DISSOLVED"


# -- authority --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(OrganisationKind))
@pytest.mark.parametrize("level", list(OrganisationLevel))
def test_who_approves_follows_from_kind_and_level(kind: K, level: L) -> None:
    committee = kind is K.COMMITTEE
    assert may_approve_admission(kind, level) == (committee and level is not L.COMMUNITY)
    assert may_approve_expulsion(kind, level) == (committee and level in (L.DISTRICT, L.CITY))


def test_an_organisation_knows_what_it_may_approve() -> None:
    c, d, s = _tree()
    assert s.may_approve_admission and not s.may_approve_expulsion
    assert d.may_approve_expulsion and c.may_approve_expulsion
    assert not org(L.COMMUNITY, s, K.COMMITTEE).may_approve_admission
    assert not community(s, K.GENERAL_BRANCH).may_approve_admission
    d2 = district(c)
    d2.dissolve(**_m(member_count=0))
    assert not d2.may_approve_admission and not d2.may_approve_expulsion


# -- pure functions -----------------------------------------------------------------------


def test_units_with_3_full_members_and_no_organisation() -> None:
    units = {
        "c-2": UnitStatus(2, False),
        "c-3": UnitStatus(3, False),
        "c-3-own": UnitStatus(3, True),
        "a-40": (40, False),
    }
    assert units_needing_organisation(units) == ["a-40", "c-3"]
    assert units_needing_organisation(units, Policy(own_organisation_min_full_members=2)) == [
        "a-40",
        "c-2",
        "c-3",
    ]
    assert units_needing_organisation({}) == []


@pytest.mark.parametrize(
    ("count", "kind"),
    [
        (0, K.JOINT_BRANCH),
        (2, K.JOINT_BRANCH),
        (3, K.BRANCH),
        (50, K.BRANCH),
        (51, K.GENERAL_BRANCH),
        (100, K.GENERAL_BRANCH),
        (101, K.COMMITTEE),
    ],
)
def test_suggested_kind_by_member_count(count: int, kind: K) -> None:
    assert suggest_kind(count) is kind


def test_suggested_kind_thresholds_are_policy_numbers() -> None:
    policy = Policy(branch_max_members=30, general_branch_max_members=60)
    assert suggest_kind(31, policy) is K.GENERAL_BRANCH
    assert suggest_kind(61, policy) is K.COMMITTEE
