"""Builders for the organisation tests: a small city tree."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

from domain_builders import BY

from domain.organisation import Organisation
from domain.vocabulary import OrganisationKind, OrganisationLevel

FOUNDED = date(2000, 1, 1)


def org(
    level: OrganisationLevel,
    parent: Organisation | None,
    kind: OrganisationKind = OrganisationKind.COMMITTEE,
    **kwargs: object,
) -> Organisation:
    return Organisation.establish(
        organisation_id=uuid4(),
        code=f"{level.value}-{uuid4().hex[:6]}",
        name=f"{level.value.title()} organisation",
        kind=kind,
        level=level,
        parent=parent,
        registration_number=None,
        supervising_body=None,
        effective_date=kwargs.pop("effective_date", FOUNDED),  # type: ignore[arg-type]
        by=BY,
        **kwargs,  # type: ignore[arg-type]
    )


def city() -> Organisation:
    return org(OrganisationLevel.CITY, None)


def district(parent: Organisation) -> Organisation:
    return org(OrganisationLevel.DISTRICT, parent)


def street(parent: Organisation) -> Organisation:
    return org(OrganisationLevel.STREET, parent)


def community(
    parent: Organisation, kind: OrganisationKind = OrganisationKind.BRANCH
) -> Organisation:
    return org(OrganisationLevel.COMMUNITY, parent, kind)
