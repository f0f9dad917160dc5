"""Saving behind (consumers/ingest.py, PostgreSQL): a batch is saved by the writer thread
while the next one is handled. The next one works on the first one's changes, which the
store does not have yet; if the first one is not saved, the next one is dropped and both
are read again, the first saved in line. Against PostgreSQL, with stand-ins for the two
consumers (tests/unit/ingest_world.py)."""

from __future__ import annotations

import gc
import threading
import time
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import Tracking
from kafka import TopicPartition

from bench import workload
from consumers.ingest import Ingest
from domain.change_request import ChangeRequest, change_request_id
from domain.identity import CitizenId
from domain.member import Member
from domain.provenance import Provenance
from registry.runtime import ingest_context
from registry.store import STORE_UNAVAILABLE, EventStore, PreparedSave, open_event_store
from schemas import topics
from tests.conftest import DATABASE_URL
from tests.unit.ingest_world import (  # noqa: F401
    as_records,
    handled,
    ingest_over,
    records,
    store_fixture,
)

A = TopicPartition(topics.CHANGE_REQUESTS, 0)

pytestmark = pytest.mark.parametrize("store", ["postgres"], indirect=True)


def _held_until_next_is_handled(ingest: Ingest, events: EventStore,
                                monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The first save waits until the batch after it has been handled, so that batch is
    handled while the store does not have the first one yet. Returns what happened, in
    order."""
    happened: list[str] = []
    handled_next = threading.Event()
    handle_batch, write = ingest._handle_batch, events.write

    def handle_then_tell(*args: Any) -> Any:
        result = handle_batch(*args)
        happened.append("handled")
        if happened.count("handled") == 2:
            handled_next.set()
        return result

    def write_when_told(prepared: PreparedSave) -> None:
        if not happened.count("saved"):
            assert handled_next.wait(10), "the next batch was not handled meanwhile"
        try:
            write(prepared)
        finally:
            happened.append("saved")

    monkeypatch.setattr(ingest, "_handle_batch", handle_then_tell)
    monkeypatch.setattr(events, "write", write_when_told)
    return happened


def _member(ingest: Ingest, events: EventStore, i: int) -> Member:
    citizen = CitizenId.parse(workload.applicant_citizen_id(i))
    member = events.repository.get(ingest.ctx.member_ids.for_citizen(citizen.number))
    assert isinstance(member, Member)
    return member


def _request(events: EventStore, request_id: str) -> ChangeRequest:
    record = events.repository.get(change_request_id(workload.CITY, request_id))
    assert isinstance(record, ChangeRequest)
    return record


def test_the_next_batch_is_handled_on_the_changes_of_the_one_being_saved(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, events = store
    catalog = ingest_context(settings).catalog
    applications = [workload.encode(workload.apply_request(i, "c"), catalog) for i in range(6)]
    admissions = [workload.encode(workload.admit_activist_request(i, "c"), catalog)
                  for i in range(6)]  # fmt: skip
    # The applications, then each applicant admitted as an activist, then the first
    # three applications delivered again.
    log = as_records(A, applications + admissions + applications[:3])
    ingest, _, _ = ingest_over(settings, events, {A: log})
    happened = _held_until_next_is_handled(ingest, events, monkeypatch)
    ingest.process_polled({A: log[0:6]})
    ingest.process_polled({A: log[5:15]})  # begins with the record handled last (proof)
    ingest.settle()
    assert happened == ["handled", "handled", "saved", "saved"]
    assert handled(events, A) == 14
    for i in range(6):
        member = _member(ingest, events, i)
        assert (member.version, member.stage.value) == (2, "ACTIVIST")
        assert _request(events, f"c-v{i:08d}").accepted
    # An application delivered again, while its first delivery was being saved, is a
    # repeat of its one outcome, not a second application.
    versions = [_request(events, f"c-a{i:08d}").version for i in range(6)]
    assert versions == [2, 2, 2, 1, 1, 1]


def test_a_batch_not_saved_behind_drops_the_next_and_is_saved_again_in_line(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, events = store
    log = records(A, "f", 20)
    ingest, consumer, _ = ingest_over(settings, events, {A: log})
    # Another ingest process, holding the partition for a moment in a rebalance, saved
    # offset 9 first: the first batch's transaction fails on its tracking record.
    events.record([], Tracking(f"{A.topic}/{A.partition}@1", 9))
    happened = _held_until_next_is_handled(ingest, events, monkeypatch)
    ingest.process_polled({A: log[0:10]})
    ingest.process_polled({A: log[9:20]})  # handled on the first's changes, then dropped
    assert happened == ["handled", "handled", "saved"]
    assert handled(events, A) == 9  # nothing of either batch saved
    assert [_exists(events, f"f-a{i:08d}") for i in range(20)] == [False] * 20
    assert ingest.partitions[A].next_offset == 0 and consumer.sought[-1] == 0
    # Read again from where the store stands: saved in line, and one by one where the
    # whole cannot be, which leaves offsets up to 9 to the other process (see
    # test_ingest_batches.py); after it, behind again.
    ingest.process_polled({A: log[0:10]})
    assert happened == ["handled", "handled", "saved", "handled", "saved"]
    assert handled(events, A) == 9
    ingest.process_polled({A: log[9:20]})
    ingest.settle()
    assert happened[5:] == ["handled", "saved"]
    assert handled(events, A) == 19
    assert [_exists(events, f"f-a{i:08d}") for i in range(20)] == [i > 9 for i in range(20)]
    assert ingest.partitions[A].next_offset == 20


def test_a_revoked_partition_is_given_up_once_its_batch_is_saved(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, events = store
    log = records(A, "r", 10)
    ingest, _, _ = ingest_over(settings, events, {A: log})
    write = events.write

    def slow_write(prepared: PreparedSave) -> None:
        time.sleep(0.3)
        write(prepared)

    monkeypatch.setattr(events, "write", slow_write)
    ingest.process_polled({A: log})
    ingest.revoke([A])  # its next owner resumes it from the store: saved by then
    assert handled(events, A) == 9
    assert A not in ingest.partitions
    ingest.settle()
    assert _request(events, "r-a00000009").accepted


def test_a_batch_saved_behind_is_frozen_before_the_collector_is_back_on(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its survivors (and the next batch's) are put out of the collector's sight before
    any pass walks them: settled with the collector back on, the first allocation set
    off a pass over both batches' young objects (4 % of the loop, BENCHMARKS.md)."""
    settings, events = store
    log = records(A, "g", 20)
    ingest, _, _ = ingest_over(settings, events, {A: log})
    collector_on_at_freeze: list[bool] = []
    monkeypatch.setattr(ingest._freezer, "batch_done",
                        lambda: collector_on_at_freeze.append(gc.isenabled()))  # fmt: skip
    ingest.process_polled({A: log[0:10]})
    assert ingest._behind is not None and collector_on_at_freeze == []
    ingest.process_polled({A: log[9:20]})  # settles the first
    assert collector_on_at_freeze == [False]
    assert gc.isenabled()
    ingest.settle()
    assert handled(events, A) == 19


def _exists(events: EventStore, request_id: str) -> bool:
    return bool(events.recorder.select_events(change_request_id(workload.CITY, request_id)))


def test_what_another_writer_recorded_after_the_batch_in_flight_is_seen(store: Any) -> None:
    settings, events = store
    catalog = ingest_context(settings).catalog
    log = as_records(A, [workload.encode(workload.apply_request(0, "w"), catalog),
                         workload.encode(workload.admit_activist_request(0, "w"), catalog)])
    ingest, _, _ = ingest_over(settings, events, {A: log})
    ingest.process_polled({A: log[0:1]})
    assert ingest._behind is not None
    ingest._behind.saved.result()  # saved; the ingest has not taken that in yet
    # Another writer (an earlier request's redelivery on another process, a repair)
    # records the admission itself.
    member = _member(ingest, events, 0)
    member.admit_as_activist(
        decided_by=member.organisation_id, effective_date=date.today() - timedelta(days=20),
        recorded_on=date.today(), by=Provenance(request_id="repair", source_system="test"),
    )  # fmt: skip
    events.save(member)
    ingest.process_polled({A: log[0:2]})  # the request: handled on the member as it is now
    ingest.settle()
    outcome = _request(events, "w-v00000000")
    assert (outcome.accepted, outcome.code) == (False, "WRONG_STAGE")
    assert ingest._failed_behind == 0  # not accepted on a stale member, then refused
    assert _member(ingest, events, 0).version == 2


def test_a_store_that_fails_a_save_behind_has_its_partitions_resumed_from_it(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = store
    # The same store, whose saves give up after waiting 1 s for the events table's lock.
    events = open_event_store(settings, POSTGRES_LOCK_TIMEOUT="1")
    try:
        log = records(A, "u", 10)
        ingest, _, _ = ingest_over(settings, events, {A: log})
        locked, write = threading.Event(), events.write

        def write_once_locked(prepared: PreparedSave) -> None:
            assert locked.wait(10)
            write(prepared)

        monkeypatch.setattr(events, "write", write_once_locked)
        ingest.process_polled({A: log})
        schema = settings.postgres()["schema"]
        with psycopg.connect(DATABASE_URL, autocommit=True) as holder, holder.transaction():
            holder.execute(f'LOCK TABLE "{schema}".registry_events IN ACCESS EXCLUSIVE MODE')
            locked.set()
            with pytest.raises(STORE_UNAVAILABLE):
                ingest.settle()
        # What the store committed is not known to the loop: the partition is resumed
        # from the store (as the loop's _resume_missing does), and read again.
        assert A not in ingest.partitions
        ingest._resume(A)
        assert ingest.partitions[A].next_offset == 0
        ingest.process_polled({A: log})
        ingest.settle()
        assert handled(events, A) == 9
        assert [_request(events, f"u-a{i:08d}").version for i in range(10)] == [1] * 10
    finally:
        events.close()
