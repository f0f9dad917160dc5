"""Requests that change the tree of organisations."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from domain.errors import DomainError
from domain.organisation import Organisation
from registry import requests as rq
from registry.handlers.base import Handler, Op, organisation_id


def establish(op: Op, change: rq.EstablishOrganisation) -> list[Aggregate]:
    parent = op.organisation(change.parent_code) if change.parent_code else None
    new_id = organisation_id(change.code)
    if op.batch.get(new_id, Organisation) is not None:
        raise DomainError("ORGANISATION_EXISTS", "the code is taken", organisation_code=change.code)
    # Not stored yet, so its chain is written out: itself, then its parent's.
    op.authorise_chains([[new_id, *(op.chain(parent.id) if parent else [])]])
    organisation = Organisation.establish(
        organisation_id=new_id,
        code=change.code,
        name=change.name,
        kind=change.kind,
        level=change.level,
        parent=parent,
        registration_number=change.registration_number,
        supervising_body=change.supervising_body,
        covered_units=change.covered_units,
        policy=op.ctx.policy,
        **op.when,
    )
    return [organisation]


def rename(op: Op, change: rq.RenameOrganisation) -> list[Aggregate]:
    organisation = op.organisation(change.organisation_code)
    op.authorise(organisation.id)
    organisation.rename(name=change.name, **op.when)
    return [organisation]


def reparent(op: Op, change: rq.ReparentOrganisation) -> list[Aggregate]:
    organisation = op.organisation(change.organisation_code)
    op.authorise(organisation.id)
    parent = op.organisation(change.parent_code)
    organisation.reparent(parent=parent, **op.when)
    return [organisation]


def cover_unit(op: Op, change: rq.CoverUnit) -> list[Aggregate]:
    organisation = op.organisation(change.organisation_code)
    op.authorise(organisation.id)
    organisation.cover_unit(unit_code=change.unit_code, policy=op.ctx.policy, **op.when)
    return [organisation]


def release_unit(op: Op, change: rq.ReleaseUnit) -> list[Aggregate]:
    organisation = op.organisation(change.organisation_code)
    op.authorise(organisation.id)
    organisation.release_unit(unit_code=change.unit_code, **op.when)
    return [organisation]


def join_coordination_body(op: Op, change: rq.JoinCoordinationBody) -> list[Aggregate]:
    street = op.organisation(change.street_code)
    op.authorise(street.id)
    unit = op.organisation(change.unit_organisation_code)
    street.admit_to_coordination_body(unit=unit, **op.when)
    return [street]


def leave_coordination_body(op: Op, change: rq.LeaveCoordinationBody) -> list[Aggregate]:
    street = op.organisation(change.street_code)
    op.authorise(street.id)
    unit = op.organisation(change.unit_organisation_code)
    street.release_from_coordination_body(unit_organisation_id=unit.id, **op.when)
    return [street]


def merge(op: Op, change: rq.MergeOrganisation) -> list[Aggregate]:
    organisation = op.organisation(change.organisation_code)
    target = op.organisation(change.into_organisation_code)
    # Both sides change hands: the acting organisation must stand over each of them.
    op.authorise(organisation.id)
    op.authorise(target.id)
    tally = op.batch.tally(organisation.id)
    organisation.merge_into(
        target=target,
        member_count=tally.member_count if tally else 0,
        child_count=tally.child_count if tally else 0,
        **op.when,
    )
    return [organisation]


def dissolve(op: Op, change: rq.DissolveOrganisation) -> list[Aggregate]:
    organisation = op.organisation(change.organisation_code)
    op.authorise(organisation.id)
    tally = op.batch.tally(organisation.id)
    organisation.dissolve(
        member_count=tally.member_count if tally else 0,
        child_count=tally.child_count if tally else 0,
        **op.when,
    )
    return [organisation]


HANDLERS: dict[type, Handler] = {
    rq.EstablishOrganisation: establish,
    rq.RenameOrganisation: rename,
    rq.ReparentOrganisation: reparent,
    rq.CoverUnit: cover_unit,
    rq.ReleaseUnit: release_unit,
    rq.JoinCoordinationBody: join_coordination_body,
    rq.LeaveCoordinationBody: leave_coordination_body,
    rq.MergeOrganisation: merge,
    rq.DissolveOrganisation: dissolve,
}
