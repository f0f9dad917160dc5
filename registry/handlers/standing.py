"""Requests on a full member's standing, and the exits that end a membership episode.

The acting organisation decides (`decided_by`); an expulsion is the exception: the
branch decides and the acting organisation, a district or city committee, approves
(the domain checks that authority: NO_APPROVAL_AUTHORITY).
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from registry import requests as rq
from registry.handlers.base import Handler, Op


def order_correction(op: Op, change: rq.OrderCorrection) -> list[Aggregate]:
    member = op.own_member()
    member.order_correction(
        until=change.ends_on, decided_by=op.acting_id, policy=op.ctx.policy, **op.when
    )
    return [member]


def end_correction(op: Op, change: rq.EndCorrection) -> list[Aggregate]:
    member = op.own_member()
    member.end_correction(**op.when)
    return [member]


def impose_party_probation(op: Op, change: rq.ImposePartyProbation) -> list[Aggregate]:
    member = op.own_member()
    member.impose_party_probation(
        until=change.ends_on, decided_by=op.acting_id, policy=op.ctx.policy, **op.when
    )
    return [member]


def end_party_probation(op: Op, change: rq.EndPartyProbation) -> list[Aggregate]:
    member = op.own_member()
    member.end_party_probation(**op.when)
    return [member]


def suspend(op: Op, change: rq.SuspendMembership) -> list[Aggregate]:
    member = op.own_member()
    member.suspend(
        reason=change.reason,
        out_of_touch_since=change.out_of_touch_since,
        decided_by=op.acting_id,
        policy=op.ctx.policy,
        **op.when,
    )
    return [member]


def restore(op: Op, change: rq.RestoreMembership) -> list[Aggregate]:
    member = op.own_member()
    member.restore(decided_by=op.acting_id, **op.when)
    return [member]


def withdraw(op: Op, change: rq.WithdrawMembership) -> list[Aggregate]:
    member = op.own_member()
    member.withdraw(reason=change.reason, **op.when)
    return [member]


def remove(op: Op, change: rq.RemoveMember) -> list[Aggregate]:
    member = op.own_member()
    member.remove(reason=change.reason, decided_by=op.acting_id, policy=op.ctx.policy, **op.when)
    return [member]


def expel(op: Op, change: rq.ExpelMember) -> list[Aggregate]:
    member = op.own_member()
    member.expel(
        reason=change.reason,
        decided_by=member.organisation_id,
        approver=op.acting_organisation(),
        approved_on=change.approved_on,
        **op.when,
    )
    return [member]


def record_death(op: Op, change: rq.RecordDeath) -> list[Aggregate]:
    member = op.own_member()
    member.record_death(**op.when)
    return [member]


HANDLERS: dict[type, Handler] = {
    rq.OrderCorrection: order_correction,
    rq.EndCorrection: end_correction,
    rq.ImposePartyProbation: impose_party_probation,
    rq.EndPartyProbation: end_party_probation,
    rq.SuspendMembership: suspend,
    rq.RestoreMembership: restore,
    rq.WithdrawMembership: withdraw,
    rq.RemoveMember: remove,
    rq.ExpelMember: expel,
    rq.RecordDeath: record_death,
}
