"""Requests on the transfer of the organisational relationship (or, before admission,
of the file): the sender starts and renews it, the receiver accepts or refuses it, and
either side records the return slip."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from domain.organisation import Organisation
from registry import requests as rq
from registry.handlers.base import Handler, Op, require_active


def start(op: Op, change: rq.StartTransfer) -> list[Aggregate]:
    member = op.own_member()
    receiver = op.active_organisation(change.to_organisation_code)
    member.start_transfer(
        to_organisation_id=receiver.id,
        letter_number=change.letter_number,
        valid_days=change.valid_days,
        policy=op.ctx.policy,
        **op.when,
    )
    return [member]


def renew(op: Op, change: rq.RenewTransfer) -> list[Aggregate]:
    member = op.own_member()  # in transit, the sender still holds the relationship
    member.renew_transfer(
        letter_number=change.letter_number,
        valid_days=change.valid_days,
        new_letter_number=change.new_letter_number,
        policy=op.ctx.policy,
        **op.when,
    )
    return [member]


def accept(op: Op, change: rq.AcceptTransfer) -> list[Aggregate]:
    member = op.member()
    receiver_id = member.transfer.to_organisation_id if member.transfer else member.organisation_id
    op.authorise(receiver_id)
    receiver = op.batch.get(receiver_id, Organisation)
    if receiver is not None:
        require_active(receiver)  # a closed organisation cannot take the member in
    member.accept_transfer(letter_number=change.letter_number, **op.when)
    return [member]


def refuse(op: Op, change: rq.RefuseTransfer) -> list[Aggregate]:
    member = op.member()
    receiver_id = member.transfer.to_organisation_id if member.transfer else member.organisation_id
    op.authorise(receiver_id)
    member.refuse_transfer(letter_number=change.letter_number, reason=change.reason, **op.when)
    return [member]


def record_return_slip(op: Op, change: rq.RecordReturnSlip) -> list[Aggregate]:
    member = op.member()
    slip = member.awaiting_return_slip
    # The receiver sends the slip back and the sender files it: either may record it.
    if slip is not None:
        op.authorise(slip.from_organisation_id, slip.to_organisation_id)
    else:
        op.authorise(member.organisation_id)
    member.record_return_slip(letter_number=change.letter_number, policy=op.ctx.policy, **op.when)
    return [member]


HANDLERS: dict[type, Handler] = {
    rq.StartTransfer: start,
    rq.RenewTransfer: renew,
    rq.AcceptTransfer: accept,
    rq.RefuseTransfer: refuse,
    rq.RecordReturnSlip: record_return_slip,
}
