"""What every handler shares: the batch (unit of work), the ingest's context, and `Op`,
one request being handled with the checks of who may act for whom."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, TypeVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.change_request import ChangeRequest, DeadLetter
from domain.errors import DomainError
from domain.integrator import Integrator
from domain.member import Member
from domain.organisation import Organisation
from domain.policy import DEFAULT_POLICY, Policy
from domain.provenance import Provenance
from registry import requests as rq
from registry.member_ids import MemberIds
from registry.store import EventStore
from registry.tally import Footprint, OrganisationTally, deltas, footprint, ordered, tally_id
from schemas.catalog import Catalog

_ORGANISATION_NAMESPACE = UUID("3d6f0c52-7a43-4b8e-9e0f-5c1b2a9d8e77")

A = TypeVar("A", bound=Aggregate)


@lru_cache(maxsize=65536)  # a city's organisations, each looked up on most requests
def organisation_id(code: str) -> UUID:
    return uuid5(_ORGANISATION_NAMESPACE, code)


@dataclass(frozen=True)
class ReceivedRecord:
    """A record as read from registry.change-requests, with where it was read."""

    key: bytes | None
    value: bytes
    received_from: str  # "topic/partition@incarnation/offset"
    # (schema name, fields) when the reader decoded it already; None: decode it here.
    decoded: tuple[str, dict[str, Any]] | None = None


@dataclass
class Context:
    member_ids: MemberIds
    catalog: Catalog
    policy: Policy = DEFAULT_POLICY
    today: Callable[[], date] = field(default=lambda: datetime.now(UTC).date())


class Batch:
    """Aggregates touched while handling a batch, and their events in order."""

    def __init__(self, store: EventStore, after: Batch | None = None) -> None:
        self.store = store
        # A batch handled but not saved yet (the ingest saves it behind this one): the
        # store does not have its changes, so what it holds is taken from it, not from
        # the store. Its aggregates move here (one owner each), so if it cannot be
        # saved, nothing of it is left in the cache, and this batch is dropped too.
        self._after = after
        self.aggregates: dict[UUID, Aggregate] = {}
        self._events: list[Any] = []
        # Per organisation, the subjects and net moves of its counts not yet recorded.
        self._counts: dict[UUID, tuple[list[UUID], dict[str, int]]] = {}
        # The counts each aggregate was last accounted in (see registry.tally).
        self._footprints: dict[UUID, Footprint] = {}
        self._absent: set[UUID] = set()

    def load(self, aggregate_ids: Iterable[UUID]) -> None:
        """Looks these ids up in one query, so that handling the batch asks the store
        for nothing it could have known at the start (new members and new requests are
        most lookups, and each lookup on its own was a round trip)."""
        wanted = set(aggregate_ids) - self.aggregates.keys() - self._absent
        if not wanted:
            return
        taken = self.store.take(wanted, self._take_over(wanted))
        self._absent |= wanted - taken.keys()
        for aggregate_id, aggregate in taken.items():
            self.aggregates[aggregate_id] = aggregate
            self._footprints[aggregate_id] = footprint(aggregate)

    def _take_over(self, wanted: set[UUID]) -> dict[UUID, Aggregate]:
        """The earlier batch's aggregates among `wanted`, taken from it as it left them
        (their counts are in its tallies already). The store fast-forwards them like
        cached ones: what another writer recorded after that batch was saved (the
        batch may be saved by now) is then seen, as a batch saved in line would."""
        held = self._after.aggregates if self._after is not None else {}
        return {aggregate_id: held.pop(aggregate_id) for aggregate_id in wanted & held.keys()}

    def get(self, aggregate_id: UUID, cls: type[A]) -> A | None:
        aggregate = self.aggregates.get(aggregate_id)
        if aggregate is None and aggregate_id not in self._absent:
            self.load((aggregate_id,))
            aggregate = self.aggregates.get(aggregate_id)
        return aggregate if isinstance(aggregate, cls) else None

    def saved(self) -> None:
        """The batch's events are saved: its aggregates are the current state, and go
        (back) to the store's cache. A request's record is looked up again only when
        the request is repeated, so it is not worth a place there."""
        self.store.keep(
            a for a in self.aggregates.values() if not isinstance(a, ChangeRequest | DeadLetter)
        )
        # The cache has them now: a batch handled after this one takes them from there.
        self.aggregates = {}
        self._after = None

    def record(self, *aggregates: Aggregate) -> list[Any]:
        """Takes the new events of these aggregates into the batch, in order."""
        new: list[Any] = []
        for aggregate in aggregates:
            self.aggregates[aggregate.id] = aggregate
            new.extend(aggregate.collect_events())
        self._events.extend(new)
        return new

    @property
    def events(self) -> list[Any]:
        """Every event of the batch, in order, the counts it moved last: what to save."""
        self._record_counts(list(self._counts))
        return self._events

    def tally(self, organisation: UUID) -> OrganisationTally | None:
        """The organisation's tally with every count the batch has moved so far."""
        self._record_counts([organisation])
        return self.get(tally_id(organisation), OrganisationTally)

    def account(self, aggregates: Iterable[Aggregate]) -> None:
        """Notes what these aggregates' last changes did to the counts they stand in.
        A tally moves once per batch by the net of its requests' moves (one event per
        request and tally was a fifth of the ingest's events), before anyone reads it
        and before the batch is saved."""
        for aggregate in aggregates:
            before = self._footprints.get(aggregate.id, frozenset())
            after = footprint(aggregate)
            if after == before:
                continue  # most changes move no count (a stage, a circumstance, ...)
            self._footprints[aggregate.id] = after
            for organisation, change in ordered(deltas(before, after)):
                subjects, net = self._counts.setdefault(organisation, ([], {}))
                subjects.append(aggregate.id)
                for tie, step in change.items():
                    net[tie] = net.get(tie, 0) + step

    def _record_counts(self, organisations: list[UUID]) -> None:
        # A stable order, so the same batch always writes the same events.
        for organisation in sorted((o for o in organisations if o in self._counts), key=str):
            subjects, net = self._counts.pop(organisation)
            tally = self.get(tally_id(organisation), OrganisationTally)
            if tally is None:
                tally = OrganisationTally(organisation_id=organisation)
            tally.count_batch(subject_ids=subjects, deltas=net)
            self.record(tally)


@dataclass
class Op:
    """One checked request on its way to the domain."""

    batch: Batch
    ctx: Context
    request: rq.ChangeRequest
    integrator: Integrator
    today: date

    @property
    def by(self) -> Provenance:
        return Provenance(
            request_id=self.request.request_id, source_system=self.request.source_system
        )

    @property
    def acting_id(self) -> UUID:
        return organisation_id(self.request.acting_organisation)

    @property
    def when(self) -> dict[str, Any]:
        """The dating every command takes: the effective date, checked against today."""
        return {
            "effective_date": self.request.effective_date,
            "recorded_on": self.today,
            "by": self.by,
        }

    # -- loading ------------------------------------------------------------------

    def organisation(self, code: str) -> Organisation:
        organisation = self.batch.get(organisation_id(code), Organisation)
        if organisation is None:
            raise DomainError(
                "UNKNOWN_ORGANISATION", "no organisation has this code", organisation_code=code
            )
        return organisation

    def active_organisation(self, code: str) -> Organisation:
        """An organisation that may still take members, files, placements or transfers."""
        organisation = self.organisation(code)
        require_active(organisation)
        return organisation

    def acting_organisation(self) -> Organisation:
        """The acting organisation as an approver (the domain checks its authority)."""
        return self.organisation(self.request.acting_organisation)

    def member(self) -> Member:
        citizen = self.request.citizen_id
        member = self.batch.get(self.ctx.member_ids.for_citizen(citizen.number), Member)
        if member is None:
            raise DomainError("UNKNOWN_MEMBER", "no member has this citizen ID number")
        return member

    def own_member(self) -> Member:
        """The member, when the acting organisation must be theirs or above it."""
        member = self.member()
        self.authorise(member.organisation_id)
        return member

    # -- who may act ----------------------------------------------------------------

    def chain(self, start: UUID) -> list[UUID]:
        """The organisation and its ancestors, nearest first."""
        chain: list[UUID] = []
        current: UUID | None = start
        while current is not None and current not in chain:
            chain.append(current)
            organisation = self.batch.get(current, Organisation)
            current = organisation.parent_id if organisation else None
        return chain

    def authorise(self, *concerned: UUID | None) -> None:
        """The acting organisation must be one of the organisations concerned or above
        one of them, and in the integrator's scope. Several are given where either side
        may record the change (a placement by the member's branch or by the host)."""
        self.authorise_chains([self.chain(start) for start in concerned if start is not None])

    def authorise_chains(self, chains: list[list[UUID]]) -> None:
        for chain in chains:
            if self.acting_id in chain:
                self.integrator.authorise(
                    chain[chain.index(self.acting_id) :], what=self.request.acting_organisation
                )
                return
        raise DomainError(
            "NOT_AUTHORISED",
            "the acting organisation is not the organisation concerned nor above it",
            acting_organisation=self.request.acting_organisation,
        )


def require_active(organisation: Organisation) -> None:
    # The domain checks this for the organisation a command changes; the handlers check
    # it for the organisations a member command only points at (a transfer's receiver,
    # a placement's host), which the Member aggregate cannot see.
    if not organisation.active:
        raise DomainError(
            "ORGANISATION_DISSOLVED",
            "the organisation is dissolved or merged",
            organisation=organisation.code,
            dissolved_on=str(organisation.dissolved_on),
        )


Handler = Callable[[Op, Any], list[Aggregate]]
