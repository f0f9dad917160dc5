"""Registering unit systems as integrators (an administrator's act, kept as events)."""

from __future__ import annotations

from eventsourcing.application import AggregateNotFoundError

from domain.integrator import Integrator, integrator_id
from registry.handlers import organisation_id
from registry.store import EventStore


def register_integrator(
    store: EventStore, source_system: str, scope_codes: list[str]
) -> Integrator:
    """Creates the integrator or widens its scope; organisations are named by code and
    need not exist yet (the city's own system establishes the city)."""
    wanted = [str(organisation_id(code)) for code in scope_codes]
    try:
        integrator = store.repository.get(integrator_id(source_system))
    except AggregateNotFoundError:
        integrator = Integrator(source_system=source_system, scope=wanted)
    else:
        for org in wanted:
            if org not in {str(s) for s in integrator.scope}:
                integrator.grant(organisation_id=org)
    store.save(integrator)
    return integrator
