"""Integrators: the unit systems allowed to send change requests, and their scope."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError

_INTEGRATOR_NAMESPACE = UUID("6f1c1a44-4e0b-4d53-9a55-0f3c2b7a9d10")


@lru_cache(maxsize=1024)  # a handful of unit systems, asked for on every request
def integrator_id(source_system: str) -> UUID:
    return uuid5(_INTEGRATOR_NAMESPACE, source_system)


class Integrator(Aggregate):
    """A source system and the organisations (with their subtrees) it may act for."""

    @staticmethod
    def create_id(source_system: str, **_: Any) -> UUID:
        return integrator_id(source_system)

    @event("Registered")
    def __init__(self, *, source_system: str, scope: list[str]) -> None:
        self.source_system = source_system
        self.scope: set[UUID] = {UUID(s) for s in scope}

    @event("ScopeGranted")
    def grant(self, *, organisation_id: str) -> None:
        self.scope.add(UUID(organisation_id))

    def authorise(self, chain: list[UUID], *, what: str) -> None:
        """`chain` is an organisation and its ancestors; any of them in scope will do."""
        if not self.scope.intersection(chain):
            raise DomainError(
                "NOT_AUTHORISED",
                f"{self.source_system} may not act for {what}",
                source_system=self.source_system,
                organisation_id=str(chain[0]) if chain else None,
            )
