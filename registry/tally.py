"""How many members and sub-organisations an organisation has, kept by the ingest itself.

Merging and dissolving an organisation need its member and child counts on the day
(`Organisation.merge_into`, `Organisation.dissolve`), which neither aggregate can
count and which the ingest may not take from the read models (they lag the store and
are rebuilt from Kafka). So the service layer keeps one `OrganisationTally` per
organisation and moves it in the same batch, hence the same transaction, as the
member or organisation change that moved a count: the count is exact whenever the
store is.

A tally is derived data, not a fact of the domain: its events stay inside the store
(they are on no topic, like the integrators') and are not among the events an
outcome names. Its id is derived from the organisation id, so concurrent ingest
consumers that move the same count meet as an optimistic-concurrency conflict, which
the ingest already retries.

What counts (`Tie`): a person whose formal relationship (or, before admission, whose
file) is held there; a transfer in transit towards it; a mobile member placed there;
an in-service member reporting to it as a community; a sub-organisation. Every one
of them would be left pointing at a closed organisation, so each blocks closing it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.member import Member
from domain.organisation import Organisation

_TALLY_NAMESPACE = UUID("c0a8e1f2-6b3d-4c5e-8f71-2a9d4b6e0c13")


class Tie(StrEnum):
    HOLDS = "HOLDS"
    INCOMING = "INCOMING"
    PLACED = "PLACED"
    REPORTING = "REPORTING"
    CHILD = "CHILD"


MEMBER_TIES = (Tie.HOLDS, Tie.INCOMING, Tie.PLACED, Tie.REPORTING)

Footprint = frozenset[tuple[UUID, Tie]]


def tally_id(organisation_id: UUID) -> UUID:
    return uuid5(_TALLY_NAMESPACE, str(organisation_id))


class OrganisationTally(Aggregate):
    @staticmethod
    def create_id(organisation_id: UUID, **_: Any) -> UUID:
        return tally_id(organisation_id)

    @event("Opened")
    def __init__(self, *, organisation_id: UUID) -> None:
        self.organisation_id = organisation_id
        self.counts: dict[str, int] = {}

    @event("Counted")
    def count(self, *, subject_id: UUID, deltas: dict[str, int]) -> None:
        """`subject_id`: the member or organisation whose change moved the counts."""
        self.counts = {
            tie: self.counts.get(tie, 0) + deltas.get(tie, 0) for tie in {*self.counts, *deltas}
        }

    @event("CountedForBatch")
    def count_batch(self, *, subject_ids: list[UUID], deltas: dict[str, int]) -> None:
        """What a batch of requests did to the counts, net, in one event; `subject_ids`:
        the members and organisations whose changes moved them, in the order they did."""
        self.counts = {
            tie: self.counts.get(tie, 0) + deltas.get(tie, 0) for tie in {*self.counts, *deltas}
        }

    @property
    def member_count(self) -> int:
        return sum(self.counts.get(tie.value, 0) for tie in MEMBER_TIES)

    @property
    def child_count(self) -> int:
        return self.counts.get(Tie.CHILD.value, 0)


def footprint(aggregate: Aggregate) -> Footprint:
    """The counts an aggregate stands in, as it is now."""
    ties: set[tuple[UUID, Tie]] = set()
    if isinstance(aggregate, Member) and aggregate.episode_open:
        ties.add((aggregate.organisation_id, Tie.HOLDS))
        if aggregate.transfer is not None:
            ties.add((aggregate.transfer.to_organisation_id, Tie.INCOMING))
        if aggregate.placement_organisation_id is not None:
            ties.add((aggregate.placement_organisation_id, Tie.PLACED))
        if aggregate.community_id is not None:
            ties.add((aggregate.community_id, Tie.REPORTING))
    elif isinstance(aggregate, Organisation) and aggregate.active and aggregate.parent_id:
        ties.add((aggregate.parent_id, Tie.CHILD))
    return frozenset(ties)


def deltas(before: Footprint, after: Footprint) -> dict[UUID, dict[str, int]]:
    """Per organisation, how each count moves from `before` to `after`."""
    moved: dict[UUID, dict[str, int]] = {}
    for changes, step in ((after - before, 1), (before - after, -1)):
        for organisation, tie in changes:
            per = moved.setdefault(organisation, {})
            per[tie.value] = per.get(tie.value, 0) + step
    return moved


def ordered(moved: dict[UUID, dict[str, int]]) -> Iterable[tuple[UUID, dict[str, int]]]:
    # A stable order, so the same request always writes the same events.
    return sorted(moved.items(), key=lambda item: str(item[0]))
