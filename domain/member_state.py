"""Plain values the Member aggregate keeps: rebuilt from its events, never stored themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from domain.vocabulary import ExitKind


@dataclass(frozen=True)
class Transfer:
    """A transfer of the organisational relationship (or of an applicant's file) in transit."""

    letter_number: str
    from_organisation_id: UUID
    to_organisation_id: UUID
    started_on: date
    valid_until: date


@dataclass(frozen=True)
class AcceptedTransfer:
    """The last accepted transfer, until its return slip (回执) comes back."""

    letter_number: str
    from_organisation_id: UUID
    to_organisation_id: UUID
    accepted_on: date


@dataclass(frozen=True)
class EpisodeRecord:
    """A closed membership episode, kept when the person applies again."""

    episode: int
    applied_on: date
    full_since: date | None
    exited_on: date
    exit_kind: ExitKind
