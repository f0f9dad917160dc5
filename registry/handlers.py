"""The service layer: one change request in, domain commands run, one outcome recorded.

Handlers work on a `Batch` (the unit of work): aggregates are loaded once per batch and
every event is kept in the order it happened, so the whole batch, with the Kafka
offset it came from, is saved in one transaction by the ingest consumer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.change_request import ChangeRequest as RequestRecord
from domain.change_request import DeadLetter, change_request_id
from domain.errors import DomainError
from domain.integrator import Integrator, integrator_id
from domain.member import Member
from domain.organisation import Organisation
from domain.policy import DEFAULT_POLICY, Policy
from domain.provenance import Provenance
from registry import requests as rq
from registry.member_ids import MemberIds
from registry.store import EventStore
from schemas.catalog import Catalog
from schemas.codec import DecodeError

_ORGANISATION_NAMESPACE = UUID("3d6f0c52-7a43-4b8e-9e0f-5c1b2a9d8e77")

A = TypeVar("A", bound=Aggregate)


def organisation_id(code: str) -> UUID:
    return uuid5(_ORGANISATION_NAMESPACE, code)


@dataclass(frozen=True)
class ReceivedRecord:
    """A record as read from registry.change-requests, with where it was read."""

    key: bytes | None
    value: bytes
    received_from: str  # "topic/partition@incarnation/offset"


@dataclass
class Context:
    member_ids: MemberIds
    catalog: Catalog
    policy: Policy = DEFAULT_POLICY
    today: Callable[[], date] = field(default=lambda: datetime.now(UTC).date())


class Batch:
    """Aggregates touched while handling a batch, and their events in order."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.aggregates: dict[UUID, Aggregate] = {}
        self.events: list[Any] = []

    def get(self, aggregate_id: UUID, cls: type[A]) -> A | None:
        aggregate = self.aggregates.get(aggregate_id)
        if aggregate is None:
            try:
                aggregate = self.store.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
            self.aggregates[aggregate_id] = aggregate
        return aggregate if isinstance(aggregate, cls) else None

    def record(self, *aggregates: Aggregate) -> list[Any]:
        """Takes the new events of these aggregates into the batch, in order."""
        new: list[Any] = []
        for aggregate in aggregates:
            self.aggregates[aggregate.id] = aggregate
            new.extend(aggregate.collect_events())
        self.events.extend(new)
        return new


def handle(batch: Batch, received: ReceivedRecord, ctx: Context) -> None:
    """Records exactly one thing for the record: an outcome, a repeat, or a dead letter."""
    try:
        schema_name, record = ctx.catalog.decode(received.value)
        if schema_name != rq.REQUEST_SCHEMA:
            raise DecodeError(f"a {schema_name} is not a change request")
    except DecodeError as error:
        batch.record(
            DeadLetter(
                received_from=received.received_from,
                reason=f"{error.reason}: {error}",
                key=received.key,
                value=received.value,
            )
        )
        return

    source_system = str(record.get("source_system") or "")[:64] or "?"
    request_id = str(record.get("request_id") or "")[:128] or "?"
    digest = hashlib.sha256(received.value).hexdigest()
    earlier = batch.get(change_request_id(source_system, request_id), RequestRecord)
    if earlier is not None:
        if earlier.body_digest == digest:
            earlier.repeat(received_from=received.received_from)
        else:
            earlier.refuse_conflict(received_from=received.received_from, body_digest=digest)
        batch.record(earlier)
        return

    caused: list[Any] = []
    try:
        request = rq.parse_request(record)
        touched = _run(batch, request, ctx)
        caused = batch.record(*touched)
    except DomainError as error:
        _forget_pending(batch)
        decision: dict[str, Any] = {
            "accepted": False,
            "code": error.code,
            "message": error.message,
            "values": {k: _shown(v) for k, v in error.values.items()},
        }
    else:
        decision = {"accepted": True, "code": None, "message": None, "values": {}}
    batch.record(
        RequestRecord(
            source_system=source_system,
            request_id=request_id,
            body_digest=digest,
            caused=[
                [e.originator_id.hex, e.originator_version, type(e).__qualname__] for e in caused
            ],
            received_from=received.received_from,
            **decision,
        )
    )


def _forget_pending(batch: Batch) -> None:
    # Commands check every rule before they trigger an event, so a refused command has
    # nothing pending; this guards that promise instead of trusting it.
    for aggregate in batch.aggregates.values():
        if aggregate.pending_events:
            raise AssertionError(f"a refused command left events pending on {aggregate.id}")


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _run(batch: Batch, request: rq.ChangeRequest, ctx: Context) -> list[Aggregate]:
    by = Provenance(request_id=request.request_id, source_system=request.source_system)
    integrator = batch.get(integrator_id(request.source_system), Integrator)
    if integrator is None:
        raise DomainError(
            "UNKNOWN_SOURCE_SYSTEM",
            "the source system is not a registered integrator",
            source_system=request.source_system,
        )
    acting = organisation_id(request.acting_organisation)
    change = request.change
    today = ctx.today()

    if isinstance(change, rq.EstablishOrganisation):
        parent = _organisation(batch, change.parent_code) if change.parent_code else None
        new_id = organisation_id(change.code)
        if batch.get(new_id, Organisation) is not None:
            raise DomainError("ORGANISATION_EXISTS", "the code is taken", code=change.code)
        chain = [new_id, *(_chain(batch, parent.id) if parent else [])]
        _authorise(integrator, acting, chain, request.acting_organisation)
        organisation = Organisation.establish(
            organisation_id=new_id,
            code=change.code,
            name=change.name,
            kind=change.kind,
            level=change.level,
            parent=parent,
            registration_number=change.registration_number,
            supervising_body=change.supervising_body,
            effective_date=request.effective_date,
            by=by,
        )
        return [organisation]

    if isinstance(change, rq.RenameOrganisation | rq.ReparentOrganisation):
        organisation = _organisation(batch, change.organisation_code)
        _authorise(integrator, acting, _chain(batch, organisation.id), request.acting_organisation)
        if isinstance(change, rq.RenameOrganisation):
            organisation.rename(name=change.name, effective_date=request.effective_date, by=by)
        else:
            parent = _organisation(batch, change.parent_code)
            organisation.reparent(parent=parent, effective_date=request.effective_date, by=by)
        return [organisation]

    citizen = request.citizen_id
    member_id = ctx.member_ids.for_citizen(citizen.number)
    member = batch.get(member_id, Member)

    if isinstance(change, rq.ApplyForMembership):
        target = _organisation(batch, change.organisation_code)
        _authorise(integrator, acting, _chain(batch, target.id), request.acting_organisation)
        if member is not None:
            raise DomainError(
                "ALREADY_A_MEMBER",
                "this person already has a membership episode open",
                stage=member.stage.value,
            )
        return [
            Member.apply(
                member_id=member_id,
                citizen_id=citizen,
                name=change.name,
                ethnicity=change.ethnicity,
                education=change.education,
                occupation=change.occupation,
                phone=change.phone,
                address=change.address,
                organisation_id=target.id,
                effective_date=request.effective_date,
                recorded_on=today,
                by=by,
                policy=ctx.policy,
            )
        ]

    if member is None:
        raise DomainError("UNKNOWN_MEMBER", "no member has this citizen ID number")

    if isinstance(change, rq.AdmitActivist):
        _authorise(
            integrator, acting, _chain(batch, member.organisation_id), request.acting_organisation
        )
        member.admit_as_activist(
            decided_by=acting, effective_date=request.effective_date, recorded_on=today, by=by
        )
    elif isinstance(change, rq.StartTransfer):
        _authorise(
            integrator, acting, _chain(batch, member.organisation_id), request.acting_organisation
        )
        receiver = _organisation(batch, change.to_organisation_code)
        member.start_transfer(
            to_organisation_id=receiver.id,
            letter_number=change.letter_number,
            valid_days=change.valid_days,
            effective_date=request.effective_date,
            recorded_on=today,
            by=by,
            policy=ctx.policy,
        )
    elif isinstance(change, rq.AcceptTransfer | rq.RefuseTransfer):
        receiver_id = (
            member.transfer.to_organisation_id if member.transfer else member.organisation_id
        )
        _authorise(integrator, acting, _chain(batch, receiver_id), request.acting_organisation)
        if isinstance(change, rq.AcceptTransfer):
            member.accept_transfer(
                letter_number=change.letter_number,
                effective_date=request.effective_date,
                recorded_on=today,
                by=by,
            )
        else:
            member.refuse_transfer(
                letter_number=change.letter_number,
                reason=change.reason,
                effective_date=request.effective_date,
                recorded_on=today,
                by=by,
            )
    else:  # pragma: no cover - parse_request only yields the kinds above
        raise DomainError("INVALID_REQUEST", "unsupported change", change=type(change).__name__)
    return [member]


def _organisation(batch: Batch, code: str) -> Organisation:
    organisation = batch.get(organisation_id(code), Organisation)
    if organisation is None:
        raise DomainError("UNKNOWN_ORGANISATION", "no organisation has this code", code=code)
    return organisation


def _chain(batch: Batch, start: UUID) -> list[UUID]:
    """The organisation and its ancestors, nearest first."""
    chain: list[UUID] = []
    current: UUID | None = start
    while current is not None and current not in chain:
        chain.append(current)
        organisation = batch.get(current, Organisation)
        current = organisation.parent_id if organisation else None
    return chain


def _authorise(integrator: Integrator, acting: UUID, chain: list[UUID], acting_code: str) -> None:
    """The acting organisation must be the target or above it, and in the integrator's scope."""
    if acting not in chain:
        raise DomainError(
            "NOT_AUTHORISED",
            "the acting organisation is not the organisation concerned nor above it",
            acting_organisation=acting_code,
        )
    integrator.authorise(chain[chain.index(acting) :], what=acting_code)
