"""Requests along the development stages: application (and a new one after an exit),
activist, development target and its steps, admission, and the end of probation.

Approvals (admission, conversion, extension, cancellation): the acting organisation
is the approving committee, passed to the domain as `approver`, which checks its
authority (NO_APPROVAL_AUTHORITY); the decision itself is the member's own branch's
(`decided_by`), taken on the request's effective date (the branch meeting).
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from domain.errors import DomainError
from domain.identity import masked
from domain.member import Member
from registry import requests as rq
from registry.handlers.base import Handler, Op


def apply(op: Op, change: rq.ApplyForMembership) -> list[Aggregate]:
    target = op.active_organisation(change.organisation_code)
    op.authorise(target.id)
    citizen = op.request.citizen_id
    member_id = op.ctx.member_ids.for_citizen(citizen.number)
    details = {
        "name": change.name,
        "ethnicity": change.ethnicity,
        "education": change.education,
        "occupation": change.occupation,
        "phone": change.phone,
        "address": change.address,
        "organisation_id": target.id,
        "policy": op.ctx.policy,
        **op.when,
    }
    member = op.batch.get(member_id, Member)
    if member is None:
        return [Member.apply(member_id=member_id, citizen_id=citizen, **details)]
    # A person is one aggregate for life: after an exit a new application opens the
    # next episode; while one is open the domain refuses it (ALREADY_A_MEMBER).
    member.reapply(**details)
    return [member]


def record_application_talk(op: Op, change: rq.RecordApplicationTalk) -> list[Aggregate]:
    member = op.own_member()
    # The acting organisation held the talk unless the request names another.
    code = change.held_by_code or op.request.acting_organisation
    held_by = op.active_organisation(code).id
    member.record_application_talk(held_by=held_by, policy=op.ctx.policy, **op.when)
    return [member]


def admit_activist(op: Op, change: rq.AdmitActivist) -> list[Aggregate]:
    member = op.own_member()
    member.admit_as_activist(decided_by=op.acting_id, **op.when)
    return [member]


def admit_development_target(op: Op, change: rq.AdmitDevelopmentTarget) -> list[Aggregate]:
    member = op.own_member()
    member.admit_as_development_target(decided_by=op.acting_id, policy=op.ctx.policy, **op.when)
    return [member]


def record_political_review(op: Op, change: rq.RecordPoliticalReview) -> list[Aggregate]:
    member = op.own_member()
    member.record_political_review(passed=change.passed, reviewed_by=op.acting_id, **op.when)
    return [member]


def record_training(op: Op, change: rq.RecordTraining) -> list[Aggregate]:
    member = op.own_member()
    member.record_training(days=change.days, hours=change.hours, **op.when)
    return [member]


def name_sponsors(op: Op, change: rq.NameSponsors) -> list[Aggregate]:
    member = op.own_member()
    sponsors: list[Member] = []
    for number in change.sponsor_citizen_ids:
        sponsor = op.batch.get(op.ctx.member_ids.for_citizen(number), Member)
        if sponsor is None:
            raise DomainError(
                "UNKNOWN_MEMBER",
                "no member has a sponsor's citizen ID number",
                sponsor_citizen_id=masked(number),
            )
        sponsors.append(sponsor)
    member.name_sponsors(sponsors=sponsors, policy=op.ctx.policy, **op.when)
    return [member]


def admit_probationary(op: Op, change: rq.AdmitProbationary) -> list[Aggregate]:
    member = op.own_member()
    member.admit_as_probationary(
        decided_by=member.organisation_id,
        approver=op.acting_organisation(),
        approved_on=change.approved_on,
        delay_reason=change.delay_reason,
        exception_reason=change.exception_reason,
        policy=op.ctx.policy,
        **op.when,
    )
    return [member]


def convert(op: Op, change: rq.ConvertToFull) -> list[Aggregate]:
    member = op.own_member()
    member.convert(
        decided_by=member.organisation_id,
        approver=op.acting_organisation(),
        approved_on=change.approved_on,
        **op.when,
    )
    return [member]


def extend_probation(op: Op, change: rq.ExtendProbation) -> list[Aggregate]:
    member = op.own_member()
    member.extend_probation(
        months=change.months,
        decided_by=member.organisation_id,
        approver=op.acting_organisation(),
        approved_on=change.approved_on,
        policy=op.ctx.policy,
        **op.when,
    )
    return [member]


def cancel_probation(op: Op, change: rq.CancelProbation) -> list[Aggregate]:
    member = op.own_member()
    member.cancel_probation(
        reason=change.reason,
        decided_by=member.organisation_id,
        approver=op.acting_organisation(),
        approved_on=change.approved_on,
        **op.when,
    )
    return [member]


HANDLERS: dict[type, Handler] = {
    rq.ApplyForMembership: apply,
    rq.RecordApplicationTalk: record_application_talk,
    rq.AdmitActivist: admit_activist,
    rq.AdmitDevelopmentTarget: admit_development_target,
    rq.RecordPoliticalReview: record_political_review,
    rq.RecordTraining: record_training,
    rq.NameSponsors: name_sponsors,
    rq.AdmitProbationary: admit_probationary,
    rq.ConvertToFull: convert,
    rq.ExtendProbation: extend_probation,
    rq.CancelProbation: cancel_probation,
}
