"""The Organisation aggregate: a party organisation at one level of the city's tree."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError
from domain.provenance import Provenance
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
    ) -> Organisation:
        _check_parent(level, parent)
        return cls(
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

    @property
    def may_approve_admission(self) -> bool:
        # Only a committee approves admissions, and a community-level committee
        # under a street may not (DOMAIN.md).
        return self.kind is OrganisationKind.COMMITTEE and self.level not in (
            OrganisationLevel.COMMUNITY,
        )

    def rename(self, *, name: str, effective_date: date, by: Provenance) -> None:
        self._require_active()
        self._renamed(name=name, effective_date=effective_date, **by.fields())

    @event("Renamed")
    def _renamed(self, name: str, effective_date: date, request_id: str, source_system: str) -> None:
        self.name = name

    def reparent(self, *, parent: Organisation, effective_date: date, by: Provenance) -> None:
        self._require_active()
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

    def _require_active(self) -> None:
        if self.dissolved_on is not None:
            raise DomainError(
                "ORGANISATION_DISSOLVED",
                "the organisation is dissolved",
                organisation=self.code,
                dissolved_on=self.dissolved_on.isoformat(),
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
