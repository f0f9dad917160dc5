"""The Organisation aggregate: a party organisation at one level of the city's tree.

Effective dates: a change may not precede the establishment, and the closing of an
organisation (merge or dissolution) may not precede any change already recorded;
other late changes are accepted. `recorded_on`, when given, must not precede the
effective date.

A street organisation keeps the membership of its coordination body (党建工作协调议事
机构): the unit organisations of resident units (驻区单位) that take part in it while
keeping their own chain. Joining and leaving are events on the street; a unit may sit in
the bodies of several streets, and a unit that leaves may join again later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.authority import may_approve_admission, may_approve_expulsion
from domain.errors import DomainError
from domain.policy import DEFAULT_POLICY, Policy
from domain.provenance import Provenance
from domain.rules import not_before, not_in_future
from domain.vocabulary import PARENT_LEVEL, OrganisationKind, OrganisationLevel


class Organisation(Aggregate):
    @staticmethod
    def create_id(organisation_id: UUID, **_: Any) -> UUID:
        return organisation_id

    @classmethod
    def establish(
        cls,
        *,
        organisation_id: UUID,
        code: str,
        name: str,
        kind: OrganisationKind,
        level: OrganisationLevel,
        parent: Organisation | None,
        registration_number: str | None,
        supervising_body: str | None,
        effective_date: date,
        by: Provenance,
        covered_units: Sequence[str] = (),
        recorded_on: date | None = None,
        policy: Policy = DEFAULT_POLICY,
    ) -> Organisation:
        """`covered_units`: the unit codes a joint branch covers (at most 5)."""
        not_in_future(effective_date, recorded_on)
        _check_parent(level, parent)
        _check_units(kind, [], covered_units, policy)
        organisation = cls(
            organisation_id=organisation_id,
            code=code,
            name=name,
            kind=kind.value,
            level=level.value,
            parent_id=parent.id if parent else None,
            registration_number=registration_number,
            supervising_body=supervising_body,
            effective_date=effective_date,
            **by.fields(),
        )
        for unit_code in covered_units:
            organisation._unit_covered(
                unit_code=unit_code, effective_date=effective_date, **by.fields()
            )
        return organisation

    @event("Established")
    def __init__(
        self,
        *,
        organisation_id: UUID,
        code: str,
        name: str,
        kind: str,
        level: str,
        parent_id: UUID | None,
        registration_number: str | None,
        supervising_body: str | None,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.code = code
        self.name = name
        self.kind = OrganisationKind(kind)
        self.level = OrganisationLevel(level)
        self.parent_id = parent_id
        self.registration_number = registration_number
        self.supervising_body = supervising_body
        self.established_on = effective_date
        self.dissolved_on: date | None = None
        self.merged_into_id: UUID | None = None
        self.covered_units: list[str] = []
        # The street's coordination body: unit organisation id → day it joined.
        self.coordination_units: dict[UUID, date] = {}
        self.latest_effective_date = effective_date

    @property
    def active(self) -> bool:
        return self.dissolved_on is None

    @property
    def may_approve_admission(self) -> bool:
        """Admissions and the end-of-probation decisions (see domain.authority)."""
        return self.active and may_approve_admission(self.kind, self.level)

    @property
    def may_approve_expulsion(self) -> bool:
        return self.active and may_approve_expulsion(self.kind, self.level)

    def rename(
        self,
        *,
        name: str,
        effective_date: date,
        by: Provenance,
        recorded_on: date | None = None,
    ) -> None:
        self._require_active()
        self._check_dates(effective_date, recorded_on)
        self._renamed(name=name, effective_date=effective_date, **by.fields())

    @event("Renamed")
    def _renamed(
        self, name: str, effective_date: date, request_id: str, source_system: str
    ) -> None:
        self.name = name
        self._advance(effective_date)

    def reparent(
        self,
        *,
        parent: Organisation,
        effective_date: date,
        by: Provenance,
        recorded_on: date | None = None,
    ) -> None:
        self._require_active()
        self._check_dates(effective_date, recorded_on)
        _check_parent(self.level, parent)
        self._reparented(
            from_parent_id=self.parent_id,
            parent_id=parent.id,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("Reparented")
    def _reparented(
        self,
        from_parent_id: UUID | None,
        parent_id: UUID,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.parent_id = parent_id
        self._advance(effective_date)

    # -- units covered by a joint branch ---------------------------------------

    def cover_unit(
        self,
        *,
        unit_code: str,
        effective_date: date,
        by: Provenance,
        recorded_on: date | None = None,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        self._require_active()
        self._check_dates(effective_date, recorded_on)
        _check_units(self.kind, self.covered_units, [unit_code], policy)
        self._unit_covered(unit_code=unit_code, effective_date=effective_date, **by.fields())

    @event("UnitCovered")
    def _unit_covered(
        self, unit_code: str, effective_date: date, request_id: str, source_system: str
    ) -> None:
        self.covered_units = [*self.covered_units, unit_code]
        self._advance(effective_date)

    def release_unit(
        self,
        *,
        unit_code: str,
        effective_date: date,
        by: Provenance,
        recorded_on: date | None = None,
    ) -> None:
        self._require_active()
        self._check_dates(effective_date, recorded_on)
        if unit_code not in self.covered_units:
            raise DomainError(
                "UNIT_NOT_COVERED",
                "the joint branch does not cover that unit",
                unit_code=unit_code,
                covered_units=list(self.covered_units),
            )
        self._unit_released(unit_code=unit_code, effective_date=effective_date, **by.fields())

    @event("UnitReleased")
    def _unit_released(
        self, unit_code: str, effective_date: date, request_id: str, source_system: str
    ) -> None:
        self.covered_units = [u for u in self.covered_units if u != unit_code]
        self._advance(effective_date)

    # -- the street's coordination body ----------------------------------------------

    def admit_to_coordination_body(
        self,
        *,
        unit: Organisation,
        effective_date: date,
        by: Provenance,
        recorded_on: date | None = None,
    ) -> None:
        """A resident unit's organisation joins this street's coordination body."""
        self._require_active()
        self._check_dates(effective_date, recorded_on)
        if self.level is not OrganisationLevel.STREET or unit.level is not OrganisationLevel.UNIT:
            raise DomainError(
                "COORDINATION_BODY_LEVEL",
                "a street organisation's body takes unit organisations",
                level=self.level.value,
                unit_level=unit.level.value,
            )
        unit._require_active()
        if unit.id in self.coordination_units:
            raise DomainError(
                "UNIT_ALREADY_IN_COORDINATION_BODY",
                "the unit organisation is already in the coordination body",
                unit=unit.code,
                joined_on=self.coordination_units[unit.id].isoformat(),
            )
        not_before(unit.established_on, effective_date, "establishment of the unit organisation")
        self._coordination_unit_joined(
            unit_organisation_id=unit.id, effective_date=effective_date, **by.fields()
        )

    @event("CoordinationUnitJoined")
    def _coordination_unit_joined(
        self,
        unit_organisation_id: UUID,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.coordination_units = {**self.coordination_units, unit_organisation_id: effective_date}
        self._advance(effective_date)

    def release_from_coordination_body(
        self,
        *,
        unit_organisation_id: UUID,
        effective_date: date,
        by: Provenance,
        recorded_on: date | None = None,
    ) -> None:
        """The unit organisation leaves this street's coordination body (it may be
        dissolved by then: only its id is needed)."""
        self._require_active()
        self._check_dates(effective_date, recorded_on)
        joined = self.coordination_units.get(unit_organisation_id)
        if joined is None:
            raise DomainError(
                "UNIT_NOT_IN_COORDINATION_BODY",
                "the unit organisation is not in the coordination body",
                unit_organisation_id=str(unit_organisation_id),
            )
        not_before(joined, effective_date, "joining of the coordination body")
        self._coordination_unit_left(
            unit_organisation_id=unit_organisation_id,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("CoordinationUnitLeft")
    def _coordination_unit_left(
        self,
        unit_organisation_id: UUID,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.coordination_units = {
            k: v for k, v in self.coordination_units.items() if k != unit_organisation_id
        }
        self._advance(effective_date)

    # -- closing ----------------------------------------------------------------

    def merge_into(
        self,
        *,
        target: Organisation,
        member_count: int,
        effective_date: date,
        by: Provenance,
        child_count: int = 0,
        recorded_on: date | None = None,
    ) -> None:
        """Merged into `target`; its members and sub-organisations must be placed first.

        `member_count` and `child_count` are what the registry's rosters hold on the
        day: the aggregate cannot count them itself.
        """
        self._require_active()
        self._check_closing(effective_date, recorded_on, member_count, child_count)
        if target.id == self.id or target.level is not self.level or not target.active:
            raise DomainError(
                "INVALID_MERGE_TARGET",
                "merge into another active organisation of the same level",
                target_id=str(target.id),
                target_level=target.level.value,
                level=self.level.value,
                target_active=target.active,
            )
        self._merged(into_organisation_id=target.id, effective_date=effective_date, **by.fields())

    @event("Merged")
    def _merged(
        self,
        into_organisation_id: UUID,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.merged_into_id = into_organisation_id
        self.dissolved_on = effective_date
        self._advance(effective_date)

    def dissolve(
        self,
        *,
        member_count: int,
        effective_date: date,
        by: Provenance,
        child_count: int = 0,
        recorded_on: date | None = None,
    ) -> None:
        """Dissolved once empty; see `merge_into` for the counts."""
        self._require_active()
        self._check_closing(effective_date, recorded_on, member_count, child_count)
        self._dissolved(effective_date=effective_date, **by.fields())

    @event("Dissolved")
    def _dissolved(self, effective_date: date, request_id: str, source_system: str) -> None:
        self.dissolved_on = effective_date
        self._advance(effective_date)

    # -- rule helpers -------------------------------------------------------------

    def _check_closing(
        self, effective_date: date, recorded_on: date | None, member_count: int, child_count: int
    ) -> None:
        not_in_future(effective_date, recorded_on)
        not_before(self.latest_effective_date, effective_date, "latest recorded change")
        if member_count > 0 or child_count > 0:
            raise DomainError(
                "ORGANISATION_NOT_EMPTY",
                "place its members and sub-organisations elsewhere first",
                organisation=self.code,
                member_count=member_count,
                child_count=child_count,
            )

    def _check_dates(self, effective_date: date, recorded_on: date | None) -> None:
        not_in_future(effective_date, recorded_on)
        not_before(self.established_on, effective_date, "establishment")

    def _advance(self, effective_date: date) -> None:
        self.latest_effective_date = max(self.latest_effective_date, effective_date)

    def _require_active(self) -> None:
        if self.dissolved_on is not None:
            raise DomainError(
                "ORGANISATION_DISSOLVED",
                "the organisation is dissolved or merged",
                organisation=self.code,
                dissolved_on=self.dissolved_on.isoformat(),
                merged_into_id=str(self.merged_into_id) if self.merged_into_id else None,
            )


def _check_units(
    kind: OrganisationKind, covered: Sequence[str], adding: Sequence[str], policy: Policy
) -> None:
    if not adding:
        return
    if kind is not OrganisationKind.JOINT_BRANCH:
        raise DomainError("NOT_A_JOINT_BRANCH", "only a joint branch covers units", kind=kind.value)
    seen = list(covered)
    for unit_code in adding:
        if unit_code in seen:
            raise DomainError(
                "UNIT_ALREADY_COVERED", "the unit is already covered", unit_code=unit_code
            )
        seen.append(unit_code)
    if len(seen) > policy.joint_branch_max_units:
        raise DomainError(
            "JOINT_BRANCH_FULL",
            f"a joint branch covers at most {policy.joint_branch_max_units} units",
            covered_units=seen,
        )


def _check_parent(level: OrganisationLevel, parent: Organisation | None) -> None:
    wanted = PARENT_LEVEL[level]
    got = parent.level if parent else None
    if got != wanted:
        raise DomainError(
            "INVALID_PARENT",
            f"a {level.value} organisation belongs under a {wanted.value if wanted else 'nothing'}",
            level=level.value,
            parent_level=got.value if got else None,
        )
    if parent is not None:
        parent._require_active()
