"""Who may approve what: it follows from an organisation's kind and level alone.

Commands take the approving organisation as anything with `id`, `kind` and
`level` (an Organisation aggregate, or an `Approver` built from a read model),
so the Member aggregate never loads another aggregate itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol
from uuid import UUID

from domain.errors import DomainError
from domain.vocabulary import OrganisationKind, OrganisationLevel

# County level or above (县级以上): in a city, the district and city committees.
_EXPULSION_LEVELS = (OrganisationLevel.DISTRICT, OrganisationLevel.CITY)


class Approving(Protocol):
    @property
    def id(self) -> UUID: ...

    @property
    def kind(self) -> OrganisationKind: ...

    @property
    def level(self) -> OrganisationLevel: ...


@dataclass(frozen=True)
class Approver:
    """An approving organisation as the caller knows it, without loading its aggregate."""

    id: UUID
    kind: OrganisationKind
    level: OrganisationLevel
    dissolved_on: date | None = None


def may_approve_admission(kind: OrganisationKind, level: OrganisationLevel) -> bool:
    """Admissions, conversions, extensions and cancellations of probation.

    Only a committee approves, and a community-level committee under a street may not.
    """
    return kind is OrganisationKind.COMMITTEE and level is not OrganisationLevel.COMMUNITY


def may_approve_expulsion(kind: OrganisationKind, level: OrganisationLevel) -> bool:
    return kind is OrganisationKind.COMMITTEE and level in _EXPULSION_LEVELS


def require_admission_authority(approver: Approving, what: str) -> None:
    _require(approver, may_approve_admission(approver.kind, approver.level), what)


def require_expulsion_authority(approver: Approving) -> None:
    _require(approver, may_approve_expulsion(approver.kind, approver.level), "an expulsion")


def _require(approver: Approving, allowed: bool, what: str) -> None:
    dissolved_on = getattr(approver, "dissolved_on", None)
    if not allowed or dissolved_on is not None:
        raise DomainError(
            "NO_APPROVAL_AUTHORITY",
            f"a {approver.level.value} {approver.kind.value} may not approve {what}",
            approver_id=str(approver.id),
            kind=approver.kind.value,
            level=approver.level.value,
            dissolved_on=dissolved_on.isoformat() if dissolved_on else None,
        )
