"""A poll's records of several partitions saved in one transaction, each partition with its
own tracking record (consumers/ingest.py); what cannot be saved together is saved
partition by partition; and the guard leaves partitions proved since its last round
alone. Both stores and stand-ins for the two consumers (tests/unit/ingest_world.py)."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import OperationalError, Tracking
from kafka import TopicPartition

from bench import workload
from domain.change_request import ChangeRequest, change_request_id
from domain.identity import CitizenId
from registry import requests as rq
from registry.handlers import core
from registry.store import EventStore
from schemas import topics
from tests.unit.ingest_world import (  # noqa: F401
    as_records,
    handled,
    in_line,
    ingest_over,
    records,
    store_fixture,
)

A = TopicPartition(topics.CHANGE_REQUESTS, 0)
B = TopicPartition(topics.CHANGE_REQUESTS, 1)


def _recorded(events: EventStore, tp: TopicPartition, tag: str, count: int) -> list[bool]:
    """Whether each of the partition's `count` applications has its request recorded in
    the store."""
    found = []
    for i in range(1000 * tp.partition, 1000 * tp.partition + count):
        try:
            events.repository.get(change_request_id(workload.CITY, f"{tag}-a{i:08d}"))
        except AggregateNotFoundError:
            found.append(False)
        else:
            found.append(True)
    return found


def test_a_poll_of_two_partitions_is_one_transaction_with_both_positions(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, events = store
    logs = {A: records(A, "a", 10), B: records(B, "b", 10)}
    ingest, _, _ = ingest_over(settings, events, logs)
    saves: list[int] = []
    write = events.write
    monkeypatch.setattr(events, "write",
                        lambda prepared: (saves.append(len(prepared.trackings)),
                                          write(prepared)))  # fmt: skip
    ingest.process_polled({A: logs[A], B: logs[B]})
    ingest.settle()
    assert saves == [2]
    assert (handled(events, A), handled(events, B)) == (9, 9)
    assert (ingest.partitions[A].next_offset, ingest.partitions[B].next_offset) == (10, 10)


def test_one_tracking_record_behind_fails_the_whole_transaction(store: Any) -> None:
    _, events = store
    name = f"{B.topic}/{B.partition}@1"
    events.record([], Tracking(name, 5))
    with pytest.raises(Exception, match="tracking"):
        events.record([], Tracking(f"{A.topic}/{A.partition}@1", 3), Tracking(name, 5))
    assert handled(events, A) is None  # nothing of it saved


def test_a_partition_another_writer_saved_first_leaves_the_other_saved(store: Any) -> None:
    settings, events = store
    logs = {A: records(A, "a", 10), B: records(B, "b", 10)}
    ingest, _, _ = ingest_over(in_line(settings), events, logs)
    # Another ingest process, holding B for a moment in a rebalance, saved it first.
    events.record([], Tracking(f"{B.topic}/{B.partition}@1", 9))
    ingest.process_polled({A: logs[A], B: logs[B]})
    assert (handled(events, A), handled(events, B)) == (9, 9)
    assert _recorded(events, A, "a", 10) == [True] * 10
    assert _recorded(events, B, "b", 10) == [False] * 10  # left to the one that saved B


def test_the_guard_reads_back_only_partitions_not_proved_since_its_last_round(
    store: Any
) -> None:
    settings, events = store
    logs = {A: records(A, "a", 20), B: records(B, "b", 20)}
    ingest, _, reader = ingest_over(settings, events, logs)
    ingest.process_polled({A: logs[A][0:10], B: logs[B][0:10]})
    ingest.process_polled({A: logs[A][9:20]})  # A proved by its own fetch; B quiet
    reader.asked.clear()
    ingest._guard_all()
    assert reader.asked == []  # both proved since the last round
    ingest._guard_all()
    assert sorted(reader.asked) == [(0, 19), (1, 9)]  # neither proved since
    ingest.settle()


def test_a_citizen_id_in_other_digits_is_refused_and_its_neighbours_saved(store: Any) -> None:
    """Digits of other scripts pass `str.isdigit()` and `int()`: such a number was taken
    as valid, and the member id's keyed hash (ASCII only) then failed the whole batch,
    every time it was read again."""
    settings, events = store
    bad = workload.apply_request(3, "d")
    ascii_number = bad["member_citizen_id"]
    bad["member_citizen_id"] = "".join(
        chr(0x660 + int(c)) for c in ascii_number[:17]) + ascii_number[17]  # fmt: skip
    log = as_records(A, [*workload.applications(3, "d"), workload.encode(bad)])
    ingest, _, _ = ingest_over(settings, events, {A: log})
    ingest.process_polled({A: log})
    ingest.settle()
    assert handled(events, A) == 3
    assert _recorded(events, A, "d", 4) == [True] * 4
    refused = events.repository.get(change_request_id(workload.CITY, "d-a00000003"))
    assert (refused.accepted, refused.code) == (False, "INVALID_REQUEST")
    assert "must be 17 digits and a digit or X" in refused.values["member_citizen_id"]


def _fails_on(monkeypatch: pytest.MonkeyPatch, request_ids: set[str],
              error: Exception) -> None:
    """The application handler raises `error` for these requests: a fault of the
    registry's own code that only these requests meet."""
    apply = core.HANDLERS[rq.ApplyForMembership]

    def faulty(op: Any, change: Any) -> Any:
        if op.request.request_id in request_ids:
            raise error
        return apply(op, change)

    monkeypatch.setitem(core.HANDLERS, rq.ApplyForMembership, faulty)


def _outcome(events: EventStore, request_id: str) -> ChangeRequest:
    record = events.repository.get(change_request_id(workload.CITY, request_id))
    assert isinstance(record, ChangeRequest)
    return record


@pytest.mark.parametrize("behind", [False, True], ids=["in line", "saved behind"])
def test_a_request_the_registry_fails_on_is_refused_and_its_partition_goes_on(
    store: Any, monkeypatch: pytest.MonkeyPatch, behind: bool
) -> None:
    """Not a poison pill: it would fail again each time it was read, and every later
    request of its partition wait behind it. Found one by one, refused as
    NOT_PROCESSED with nothing of it applied; its neighbours, in the same poll and in
    the polls after it, are saved."""
    settings, events = store
    logs = {A: records(A, "p", 10), B: records(B, "q", 10)}
    ingest, _, _ = ingest_over(settings if behind else in_line(settings), events, logs)
    _fails_on(monkeypatch, {"p-a00000003"}, KeyError("a fault"))
    ingest.process_polled({A: logs[A][0:5], B: logs[B][0:5]})
    ingest.process_polled({A: logs[A][4:10], B: logs[B][4:10]})
    ingest.settle()
    assert (handled(events, A), handled(events, B)) == (9, 9)
    refused = _outcome(events, "p-a00000003")
    assert (refused.accepted, refused.code, refused.values) == (
        False, "NOT_PROCESSED", {"error": "KeyError"})  # fmt: skip
    assert refused.caused == []
    assert _recorded(events, A, "p", 10) == [True] * 10
    assert _recorded(events, B, "q", 10) == [True] * 10
    accepted = [_outcome(events, f"p-a{i:08d}").accepted for i in range(10)]
    assert accepted == [i != 3 for i in range(10)]
    # Nothing of it applied: no member for its citizen.
    citizen = CitizenId.parse(workload.applicant_citizen_id(3))
    with pytest.raises(AggregateNotFoundError):
        events.repository.get(ingest.ctx.member_ids.for_citizen(citizen.number))


def test_a_store_error_met_while_handling_is_not_a_refusal(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store going away is waited out by the loop (STORE_UNAVAILABLE), never
    answered as NOT_PROCESSED: the request would have been refused for nothing."""
    settings, events = store
    log = records(A, "s", 5)
    ingest, _, _ = ingest_over(in_line(settings), events, {A: log})
    _fails_on(monkeypatch, {"s-a00000002"}, OperationalError("connection lost"))
    with pytest.raises(OperationalError):
        ingest.process_polled({A: log})
    assert handled(events, A) is None
    assert _recorded(events, A, "s", 5) == [False] * 5
