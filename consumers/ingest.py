"""Ingest: change requests from Kafka → domain commands → events and one outcome each.

A poll's records, all partitions together, are handled in memory and saved in one
transaction together with a tracking record per partition (name =
topic/partition@incarnation, position = its last offset), so a crash at any point
either saved the whole batch and its offsets, or nothing. If a batch cannot be saved,
each partition's share is tried in its own transaction, and a share that still cannot
has its requests redone one per transaction, so one bad request cannot take its
neighbours down with it. The same goes for a batch the registry's own code fails on (a
fault met on one of its requests, not the store's or the broker's): one by one, that
request is refused as NOT_PROCESSED, nothing of it applied, instead of failing again
each time its partition is read.

In a backlog on PostgreSQL, a batch is saved by a writer thread while the next is
handled (`_save_behind`): the next batch takes what it shares with the batch in flight
from that batch, and is handed to the writer only once the first is known saved
(`settle`); if the first was not, the next is dropped and both are read again, the first
saved in line. A resume, a revoke and the loop's end wait for the batch in flight.

Incarnations: a partition's log normally only grows. When it has been replaced (Tansu
restarted and lost it), the record at our last offset is no longer the one we handled;
the partition then gets a new incarnation and is read from its start. Requests seen
before find their ChangeRequest and are answered again, not applied again.

How a batch proves its partition was not replaced: after a batch that left nothing
fetched behind, the consumer is sought back one record, so the next fetch of a busy
partition begins with the last record handled; its digest is compared and the batch is
what follows it, from the same fetch of the same log. Otherwise (a backlog, whose
fetched records a seek would drop, or a partition that went quiet, whose fetch held
that record only) the next batch is proved by reading that record back with a second
consumer, as every batch was before: two round trips to the broker per partition and
batch, ~14 % of the loop's time at 2,000 requests/s (measured).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, replace
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, PersistenceError, Tracking
from eventsourcing.postgres import PostgresApplicationRecorder
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from consumers.collector import SurvivorFreezer, collector_paused
from consumers.group_watch import GroupWatch
from consumers.kafka import consumer, ensure_topics
from consumers.partition_log import NoAnswer, RecordReader
from domain.change_request import ChangeRequest, DeadLetter, change_request_id
from domain.errors import DomainError
from domain.identity import CitizenId
from domain.integrator import Integrator, integrator_id
from domain.organisation import Organisation
from registry.config import Settings
from registry.handlers import (
    Batch,
    Context,
    ReceivedRecord,
    handle,
    organisation_id,
    refuse_unprocessed,
    request_key,
)
from registry.store import STORE_UNAVAILABLE, EventStore, PreparedSave
from registry.tally import OrganisationTally
from schemas import topics
from schemas.codec import DecodeError

log = logging.getLogger(__name__)

GROUP_ID = "registry-ingest"
GUARD_INTERVAL_S = 5.0
# An idle ingest checks its partitions this often: a broker that lost the topics sends
# nothing, so an idle loop would otherwise wait at offsets the new log has not reached.
# Not at every empty poll: the check reads a record back per partition, and a request
# arriving meanwhile waited for all of them.
IDLE_GUARD_INTERVAL_S = 1.0
_LOOKED_UP_EVERY_BATCH = (Organisation, Integrator, OrganisationTally)


@dataclass
class PartitionState:
    incarnation: int
    next_offset: int
    last_digest: bytes | None = None  # of the record at next_offset - 1
    # The consumer was sought to next_offset - 1: the next records begin with that one.
    proving: bool = False
    # When a batch was last proved to follow on the same log (time.monotonic()): the
    # guard leaves a partition proved since its last round alone.
    proved_at: float = 0.0


@dataclass
class SavingBehind:
    """A batch handed to the writer thread: its aggregates (the next batch takes them
    from here), how many requests it holds, and its partitions' states before it."""

    batch: Batch
    requests: int
    before: dict[TopicPartition, PartitionState]
    saved: Future[None]


def record_digest(record: ConsumerRecord) -> bytes:
    return hashlib.sha256((record.key or b"") + b"\x00" + (record.value or b"")).digest()


def fault_of_handling(error: Exception) -> bool:
    """An error raised by the code that handles requests (a fault of the registry's,
    met on some request of the batch), not by the store or the broker: those the loop
    waits out, or stops on, as before. Such a batch is split until the request is
    found, which is then refused as NOT_PROCESSED rather than stopping its partition
    (it would fail again each time it was read, and every later request waits behind
    it)."""
    return not isinstance(error, PersistenceError | psycopg.Error | KafkaError | MemoryError)


class Ingest:
    def __init__(self, settings: Settings, store: EventStore, ctx: Context) -> None:
        self.settings = settings
        self.store = store
        self.recorder = store.process_recorder
        self.ctx = ctx
        self.partitions: dict[TopicPartition, PartitionState] = {}
        self._reader: RecordReader | None = None
        # Set by a revoke: the next read-back uses a new reader. After a broker restart
        # (which the group notices as a rebalance) the old one may still hold a fetched
        # record of the lost log, and a resume that read it back took the partition as
        # handled up to there (consumers/partition_log.py).
        self._reader_stale = False
        self._consumer: KafkaConsumer | None = None
        self._last_guard = time.monotonic()
        # Organisations, integrators and tallies the last batch used: the next one most
        # likely uses them again, so they join its one lookup query.
        self._hot: set[UUID] = set()
        self._group_watch = GroupWatch()
        # The aggregates a batch caches, kept from the collector's passes.
        self._freezer = SurvivorFreezer()
        # The partitions the group gave this member and has not taken back, as its
        # listener was told. Not kafka-python's assignment(), which still names the
        # partitions it has just revoked until the rebalance completes: resumed from
        # it, a revoked partition was handled beside its new owner (consumers/
        # group_reader.py, where it was seen).
        self._owned: frozenset[TopicPartition] = frozenset()
        # Saving behind (PostgreSQL): a batch's insert and commit, a tenth of the loop's
        # time spent waiting for the database in a backlog (measured), run in a writer
        # thread while the next batch is handled. One batch in flight at most; the next
        # is handed over only once it is known saved (`settle`).
        self._writer = (
            ThreadPoolExecutor(1, thread_name_prefix="ingest-writer")
            if settings.ingest_save_behind
            and isinstance(self.recorder, PostgresApplicationRecorder)
            else None
        )
        self._behind: SavingBehind | None = None
        # Held while a batch is handed over or settled, and by a revoke: kafka-python
        # calls the rebalance listener on its own thread.
        self._handover = threading.Lock()
        # Counts the saves behind that failed: a batch handled meanwhile is dropped.
        self._failed_behind = 0
        # Partitions whose last batch saved behind failed: their next batch is saved in
        # line, with the fallbacks of `_save` (partition by partition, one by one).
        self._in_line: set[TopicPartition] = set()

    # -- the loop -------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        ensure_topics(self.settings, [topics.CHANGE_REQUESTS])
        self._join()
        try:
            while not stop.is_set():
                assert self._consumer is not None
                if self._group_watch.stuck():
                    log.warning("group membership stuck %.0f s (a rebalance that did not end,"
                                " or nothing polled after the broker lost the log); joining"
                                " again", self._group_watch.stuck_after_s)
                    self._wait_behind()  # before its partitions go to another member
                    self._consumer.close(autocommit=False)
                    self._join()
                # A poll spreads its records over the partitions: ask for a full batch
                # per partition (the whole poll is then one transaction).
                limit = self.settings.ingest_batch_size * max(1, len(self.partitions))
                polled = self._consumer.poll(timeout_ms=100, max_records=limit)
                # A poll cut short by its limit left fetched records behind: a seek back
                # (the proof by fetch, see the module's doc) would drop and fetch them
                # again (measured: the backlog's rate fell by a quarter).
                caught_up = sum(len(records) for records in polled.values()) < limit
                try:
                    if polled:
                        self._group_watch.records_arrived()
                    else:
                        self.settle()  # idle: the last batch's outcome taken in now
                    resumed = self._resume_missing()
                    self.process_polled(
                        {tp: records for tp, records in polled.items()
                         if tp in self.partitions and tp not in resumed},
                        prove_by_fetch=caught_up, save_behind=not caught_up,
                    )  # fmt: skip
                    since = time.monotonic() - self._last_guard
                    if since > GUARD_INTERVAL_S or (not polled and since > IDLE_GUARD_INTERVAL_S):
                        self._guard_all()
                except STORE_UNAVAILABLE as error:
                    self._wait_for_store(stop, error)
        finally:
            try:
                self.settle()
            except Exception as error:  # stopping: the loop that starts next resumes from the store
                log.warning("the last batch saved behind did not settle (%r)", error)
            if self._writer is not None:
                self._writer.shutdown(wait=True)
            self._consumer.close(autocommit=False)
            if self._reader is not None:
                self._reader.close()

    def _join(self) -> None:
        self.partitions.clear()
        self._owned = frozenset()
        self._consumer = consumer(self.settings, group_id=GROUP_ID)
        self._consumer.subscribe([topics.CHANGE_REQUESTS], listener=_Rebalance(self))

    def _wait_for_store(self, stop: threading.Event, error: Exception) -> None:
        """Nothing of the failed batch was saved: when the store answers again, every
        partition resumes from what the store says was handled."""
        log.warning("event store unavailable (%s); retrying", error)
        while not stop.wait(1.0):
            try:
                for tp in list(self.partitions):
                    self._resume(tp)
                return
            except STORE_UNAVAILABLE as again:
                log.warning("event store still unavailable (%s)", again)

    def process(
        self, tp: TopicPartition, records: list[ConsumerRecord], *, prove_by_fetch: bool = True
    ) -> None:
        """One partition's records (see process_polled)."""
        self.process_polled({tp: records}, prove_by_fetch=prove_by_fetch)

    def process_polled(
        self,
        polled: dict[TopicPartition, list[ConsumerRecord]],
        *,
        prove_by_fetch: bool = True,
        save_behind: bool = True,
    ) -> None:
        """A poll's records: each partition's proved to follow what was handled there,
        then all of them handled and saved in one transaction with one tracking record
        per partition. One transaction rather than one per partition: at 2,000 requests/s
        each partition's transaction cost ~5 ms beyond its requests (its aggregates'
        query, the insert, the commit), a fifth of a cycle of four partitions
        (measured). `prove_by_fetch`: seek back one record after the batch, so the next
        fetch proves the next batch (see the module's doc); otherwise it is read back.
        `save_behind`: saved by the writer thread while the next batch is handled (where
        the store is PostgreSQL); the loop asks for it in a backlog only. Caught up, the
        next poll brings a few requests at once, and the writer, waiting for the
        interpreter lock at each of its round trips while they are handled, committed
        later than in line: at 2,000 requests/s outcome p50 / p99 76 / 169 ms against
        68 / 140, and 0.228 against 0.206 CPU ms a request (measured)."""
        failed_behind = self._failed_behind
        ready = {}
        for tp, records in polled.items():
            proved = self._proved(tp, records)
            if proved:
                ready[tp] = proved
        if not ready:
            return
        if self._writer is None or not save_behind or not self._in_line.isdisjoint(ready):
            self._save_in_line(ready, prove_by_fetch, failed_behind)
        else:
            self._save_behind(ready, prove_by_fetch, failed_behind)

    def _save_in_line(
        self,
        ready: dict[TopicPartition, list[ConsumerRecord]],
        prove_by_fetch: bool,
        failed_behind: int,
    ) -> None:
        """Saves the batch before the next is handled, once the one saved behind, if
        any, is settled; dropped (read again) if that one was not saved."""
        self.settle()
        if self._failed_behind != failed_behind:
            self._drop(ready)
            return
        self._save(ready)
        self._in_line -= ready.keys()
        self._advance(ready, prove_by_fetch)

    def _save_behind(
        self,
        ready: dict[TopicPartition, list[ConsumerRecord]],
        prove_by_fetch: bool,
        failed_behind: int,
    ) -> None:
        """Handles the batch while the one before it is being saved, then, once that
        one is saved, hands this one to the writer. If that one was not saved, this
        one, handled on its changes, is dropped and read again. A batch the registry
        fails to handle is saved in line, whose fallbacks find the request at fault."""
        after = self._behind.batch if self._behind is not None else None
        # Paused until the batch before is settled (see _save): its survivors are
        # frozen then, with this batch's, before any pass walks them. Back on between
        # handling and settling, the first allocation set off a pass over both
        # batches' young objects (4 % of the loop, py-spy).
        with collector_paused():
            try:
                handled: tuple[Batch, PreparedSave] | None = self._handle_batch(ready, after)
            except Exception as error:
                if not fault_of_handling(error):
                    raise
                handled = None
            self.settle()
        if handled is None:
            # In line, whose fallbacks find the request at fault (settled already).
            self._save_in_line(ready, prove_by_fetch, failed_behind)
            return
        batch, prepared = handled
        with self._handover:
            if self._failed_behind != failed_behind or not ready.keys() <= self.partitions.keys():
                self._drop(ready)
                return
            before = {tp: replace(self.partitions[tp]) for tp in ready}
            assert self._writer is not None
            saved = self._writer.submit(self.store.write, prepared)
            requests = sum(map(len, ready.values()))
            self._behind = SavingBehind(batch, requests, before, saved)
            self._advance(ready, prove_by_fetch)

    def settle(self) -> None:
        """Waits for the batch saved behind, if any, and takes its outcome in: saved,
        its aggregates go to the cache; not saved, its partitions go back to where they
        stood before it (IntegrityError: nothing of it was saved) and their next batch
        is saved in line, or, the store being away and what it committed unknown, they
        are resumed from the store (and the error raised, for the loop to wait)."""
        with self._handover:
            behind, self._behind = self._behind, None
            if behind is None:
                return
            try:
                behind.saved.result()
            except IntegrityError as error:
                self._failed_behind += 1
                log.warning("batch of %d on %s not saved behind (%s); saved again in line",
                            behind.requests, sorted(behind.before, key=str), error)  # fmt: skip
                for tp, state in behind.before.items():
                    if tp in self.partitions:
                        self.partitions[tp] = state
                        assert self._consumer is not None
                        self._consumer.seek(tp, state.next_offset)
                        self._in_line.add(tp)
                return
            except BaseException:
                self._failed_behind += 1
                for tp in behind.before:
                    self.partitions.pop(tp, None)  # resumed by the loop (_resume_missing)
                raise
            behind.batch.saved()
            self._freezer.batch_done()

    def _drop(self, ready: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Leaves a handled batch unsaved: its partitions are read again from where
        their states say (a resumed partition was sought already)."""
        assert self._consumer is not None
        for tp in ready:
            state = self.partitions.get(tp)
            if state is not None:
                state.proving = False
                self._consumer.seek(tp, state.next_offset)

    def _advance(self, ready: dict[TopicPartition, list[ConsumerRecord]], prove_by_fetch: bool
                 ) -> None:
        """The partitions' states past the batch saved (or being saved behind)."""
        for tp, records in ready.items():
            state = self.partitions[tp]
            state.next_offset = records[-1].offset + 1
            state.last_digest = record_digest(records[-1])
            if prove_by_fetch:
                # The next fetch brings the record just handled first, as the proof.
                assert self._consumer is not None
                self._consumer.seek(tp, records[-1].offset)
                state.proving = True

    def _proved(
        self, tp: TopicPartition, records: list[ConsumerRecord]
    ) -> list[ConsumerRecord] | None:
        """The records to handle: those that follow the last one handled on a log
        proved to be the same; None when there are none (the partition was resumed, or
        sought back to be read again)."""
        state = self.partitions[tp]
        proved = False
        if state.proving:
            state.proving = False
            first = records[0]
            if first.offset == state.next_offset - 1:
                if record_digest(first) != state.last_digest:
                    self._resume(tp)  # not the record handled there: replaced
                    return None
                records, proved = records[1:], True
                if not records:
                    return None  # quiet: the next records are proved by reading back
        if records[0].offset != state.next_offset:
            self._resume(tp)
            return None
        if not proved:
            try:
                unchanged = self._log_unchanged(tp, state)
            except NoAnswer:
                # Not known whether these records follow the ones handled: read them
                # again at the next poll, when the record before them can be checked.
                assert self._consumer is not None
                self._consumer.seek(tp, state.next_offset)
                return None
            if not unchanged:
                self._resume(tp)
                return None
        state.proved_at = time.monotonic()
        return records

    def _save(self, ready: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Saves the partitions' batches in one transaction; if that cannot be done,
        each partition's batch in its own, and a batch that still cannot, one request
        per transaction, so one bad request cannot take its neighbours down with it."""
        try:
            # A batch allocates a few dozen objects per request (records, models,
            # events, their stored form), none in reference cycles: reference counting
            # frees them, but the allocations set the cycle collector off ~50 times a
            # batch of 500, each pass walking the young objects and now and then every
            # cached aggregate (~18 % of the loop's CPU, measured). Paused for the
            # batch, which is gone when it is back on; what it left behind (the
            # aggregates it cached) is frozen first (consumers/collector.py).
            with collector_paused():
                self._save_batch(ready)
                self._freezer.batch_done()
            return
        except IntegrityError as error:
            log.warning("batch of %d on %s not saved (%s); %s", sum(map(len, ready.values())),
                        sorted(ready, key=str), error,
                        "partition by partition" if len(ready) > 1 else "one by one")
        except Exception as error:
            if not fault_of_handling(error):
                raise
            log.error("batch of %d on %s could not be handled (%r); %s",
                      sum(map(len, ready.values())), sorted(ready, key=str), error,
                      "partition by partition" if len(ready) > 1 else "one by one")
        if len(ready) > 1:
            for tp, records in ready.items():
                self._save({tp: records})
        else:
            [(tp, records)] = ready.items()
            self._one_by_one(tp, self.partitions[tp], records)

    def _save_batch(self, ready: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """The records' requests handled and saved in one transaction with each
        partition's last offset; IntegrityError (nothing saved) when another writer got
        there first."""
        batch, prepared = self._handle_batch(ready)
        self.store.write(prepared)
        batch.saved()

    def _handle_batch(
        self, ready: dict[TopicPartition, list[ConsumerRecord]], after: Batch | None = None
    ) -> tuple[Batch, PreparedSave]:
        """The records' requests handled (on `after`'s changes, a batch not saved yet),
        and what saves them with each partition's last offset."""
        trackings = []
        received = []
        for tp, records in ready.items():
            state = self.partitions[tp]
            trackings.append(Tracking(self._tracking_name(tp, state.incarnation),
                                      records[-1].offset))  # fmt: skip
            received.extend(self._received(tp, state, record) for record in records)
        batch = Batch(self.store, after)
        batch.load(self._ids_to_look_up(received) | self._hot)
        for one in received:
            handle(batch, one, self.ctx)
        prepared = self.store.prepare(batch.events, *trackings)
        self._hot = {
            a.id for a in batch.aggregates.values() if isinstance(a, _LOOKED_UP_EVERY_BATCH)
        }
        return batch, prepared

    def _one_by_one(
        self, tp: TopicPartition, state: PartitionState, records: list[ConsumerRecord]
    ) -> None:
        name = self._tracking_name(tp, state.incarnation)
        for record in records:
            for attempt in range(5):
                if self.recorder.has_tracking_id(name, record.offset):
                    break  # saved already (by us before a crash, or by another member)
                batch = Batch(self.store)
                received = self._received(tp, state, record)
                tracking = Tracking(name, record.offset)
                try:
                    handle(batch, received, self.ctx)
                    prepared = self.store.prepare(batch.events, tracking)
                except Exception as error:
                    if not fault_of_handling(error):
                        raise
                    log.exception("request at %s/%d could not be handled; refused as"
                                  " NOT_PROCESSED", tp, record.offset)  # fmt: skip
                    batch = Batch(self.store)
                    refuse_unprocessed(batch, received, self.ctx, error)
                    prepared = self.store.prepare(batch.events, tracking)
                try:
                    self.store.write(prepared)
                    batch.saved()
                    break
                except IntegrityError:
                    log.warning(
                        "request at %s/%d conflicted, attempt %d", tp, record.offset, attempt
                    )
                    time.sleep(0.05 * (attempt + 1))
            else:
                raise RuntimeError(f"request at {tp} offset {record.offset} could not be saved")

    # -- partitions -----------------------------------------------------------

    def _resume_missing(self) -> set[TopicPartition]:
        """Resumes the partitions the group gave us, here in the loop rather than in the
        rebalance callback: kafka-python runs the callback on its event loop, which then
        sends no heartbeats, and a resume reads a record back from the broker (seconds on
        a busy machine or a restarting broker: a 9.5 s callback let the 6 s session
        expire, and the group rebalanced again and again). Records polled for a
        partition before its resume are skipped, not handled: the resume seeks back to
        where the store says it stands. A resume that fails is tried again at the next
        poll (with the resume in the callback, a failed one left its partition skipped for
        good after a broker restart; and kafka-python 3 raises a callback's error again
        from poll). Returns the partitions
        resumed: what was polled for them came from before their seek."""
        assert self._consumer is not None
        resumed = set()
        for tp in self._owned - self.partitions.keys():
            try:
                self._resume(tp)
            except KafkaError as error:
                log.warning("%s not resumed yet (%r); trying again", tp, error)
            else:
                resumed.add(tp)
        return resumed

    def own(self, tps: list[TopicPartition]) -> None:
        self._owned = self._owned | set(tps)
        self._group_watch.rebalance_ended()
        self._freezer.thaw_soon()  # the join's garbage, before it is frozen for long

    def revoke(self, tps: list[TopicPartition]) -> None:
        self._group_watch.rebalance_began()
        self._reader_stale = True
        # Disowned first, so the loop cannot resume them again meanwhile.
        self._owned = self._owned - set(tps)
        with self._handover:
            self._wait_behind()
            for tp in tps:
                self.partitions.pop(tp, None)

    def _wait_behind(self) -> None:
        """Waits until the batch being saved behind, if any, is saved or not, so that
        its partitions' next owner, who resumes them from the store, finds it there.
        Its outcome is the loop's to take in (`settle`)."""
        behind = self._behind
        if behind is not None:
            wait_for([behind.saved])

    def _resume(self, tp: TopicPartition) -> None:
        """Finds where this partition stands in the store and seeks there."""
        self.settle()  # the store as it will stand, not before the batch saved behind
        base = f"{tp.topic}/{tp.partition}"
        incarnation = self.recorder.max_tracking_id(f"{base}#incarnation")
        if incarnation is None:
            incarnation = self._new_incarnation(tp, 0)
        last = self.recorder.max_tracking_id(self._tracking_name(tp, incarnation))
        state = PartitionState(incarnation, 0)
        if last is not None:
            record = self._record_at(tp, last)
            if record is not None and self._was_handled(record, self._from(tp, incarnation, last)):
                state = PartitionState(incarnation, last + 1, record_digest(record))
            else:
                state = PartitionState(self._new_incarnation(tp, incarnation), 0)
        self.partitions[tp] = state
        assert self._consumer is not None
        self._consumer.seek(tp, state.next_offset)
        # Rare (a rebalance, a broker that lost the log): what a resume found is how a
        # request not answered after such an event is traced.
        log.info("%s resumed at offset %d of incarnation %d (last handled: %s)", tp,
                 state.next_offset, state.incarnation, last)

    def _new_incarnation(self, tp: TopicPartition, current: int) -> int:
        if current:
            log.warning("%s was replaced on the broker; reading it again from the start", tp)
            self._group_watch.broker_lost()
        base = f"{tp.topic}/{tp.partition}"
        self.recorder.insert_tracking(Tracking(f"{base}#incarnation", current + 1))
        return current + 1

    def _record_at(
        self, tp: TopicPartition, offset: int, attempts: int = 3
    ) -> ConsumerRecord | None:
        """The record at `offset`, asked a few times; if the broker never answers, None:
        the partition is then read again from its start, which answers the requests seen
        before again and applies none twice (slow, but never wrong)."""
        for _ in range(attempts):
            try:
                return self._reader_client().at(tp, offset)
            except NoAnswer:
                continue
        log.warning("%s did not hand back offset %d; taking it as replaced", tp, offset)
        return None

    def _log_unchanged(self, tp: TopicPartition, state: PartitionState) -> bool:
        """Whether the record before `next_offset` is still the one handled; NoAnswer
        when the broker did not say."""
        if state.last_digest is None:
            return True
        record = self._reader_client().at(tp, state.next_offset - 1)
        return record is not None and record_digest(record) == state.last_digest

    def _guard_all(self) -> None:
        """Reads back the last record handled of each partition not proved since the
        last round: a busy partition proves each batch anyway, and reading back every
        partition's record held a busy loop up by 24-62 ms every 5 s (measured at
        2,000 requests/s)."""
        now = time.monotonic()
        since, self._last_guard = self._last_guard, now
        for tp, state in list(self.partitions.items()):
            if state.proved_at > since:
                continue
            try:
                if not self._log_unchanged(tp, state):
                    self._resume(tp)
            except NoAnswer:
                continue  # nothing learnt: checked again at the next guard

    def _was_handled(self, record: ConsumerRecord, received_from: str) -> bool:
        letter = self._get(DeadLetter.create_id(received_from))
        if isinstance(letter, DeadLetter):
            return letter.value == record.value
        try:
            _, fields = self.ctx.catalog.decode(record.value or b"")
        except DecodeError:
            return False
        handled = self._get(change_request_id(*request_key(fields)))
        return isinstance(handled, ChangeRequest) and received_from in handled.received_from

    def _ids_to_look_up(self, received: list[ReceivedRecord]) -> set[UUID]:
        """The ids the batch will ask for, as far as the records tell: each request's
        record, member, acting organisation and integrator; a wrong guess only costs a
        row the query did not need."""
        ids: set[UUID] = set()
        for one in received:
            if one.decoded is None:
                continue
            fields = one.decoded[1]
            source_system, request_id = request_key(fields)
            ids.add(change_request_id(source_system, request_id))
            ids.add(integrator_id(source_system))
            ids.add(organisation_id(str(fields.get("acting_organisation") or "")))
            try:
                citizen = CitizenId.parse(str(fields.get("member_citizen_id") or ""))
            except DomainError:
                continue
            ids.add(self.ctx.member_ids.for_citizen(citizen.number))
        return ids

    def _get(self, aggregate_id: UUID) -> object | None:
        try:
            return self.store.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    # -- helpers --------------------------------------------------------------

    @staticmethod
    def _tracking_name(tp: TopicPartition, incarnation: int) -> str:
        return f"{tp.topic}/{tp.partition}@{incarnation}"

    @staticmethod
    def _from(tp: TopicPartition, incarnation: int, offset: int) -> str:
        return f"{tp.topic}/{tp.partition}@{incarnation}/{offset}"

    def _received(
        self, tp: TopicPartition, state: PartitionState, record: ConsumerRecord
    ) -> ReceivedRecord:
        value = record.value or b""
        try:
            decoded = self.ctx.catalog.decode(value)
        except DecodeError:
            decoded = None  # the handler decodes it again and dead-letters it with why
        return ReceivedRecord(
            record.key, value, self._from(tp, state.incarnation, record.offset), decoded
        )

    def _reader_client(self) -> RecordReader:
        if self._reader is None or self._reader_stale:
            # Cleared first: a revoke meanwhile (on kafka-python's thread) is then
            # followed by the reader made here.
            self._reader_stale = False
            if self._reader is not None:
                self._reader.close()
            self._reader = RecordReader(self.settings)
        return self._reader


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.ingest.revoke(list(revoked))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.ingest.own(list(assigned))  # resumed by the loop (Ingest._resume_missing)
