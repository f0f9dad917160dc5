"""The projection runner: event topics → read models, exactly once.

Each poll's records are applied in one database transaction that also stores each
partition's next offset; an event already applied (same aggregate id
and version) is skipped. Records are decoded from the published schemas only, as any
downstream system would.

When the relay starts a new epoch (the broker lost the topics and they were published
again), a record with a higher epoch header sends the partition back to its start.

Generations (projections/database.py): a projector writes to the live generation, read
again in each transaction under a shared lock on the pointer row. When a rebuild has
switched the pointer, the projector takes up the new generation's stored positions
(the rebuild kept them under the same consumer name) and carries on from there. A
rebuild's own projector is pinned to the generation it builds.

Several projectors may share the group: each applies only the partitions assigned to
it, and the exactly-once version gate (projections/apply/versions.py) makes a partition
briefly held by two of them during a rebalance harmless: the second waits for the
first's rows, and a batch that overlapped the other's is rolled back and applied again.

A poll's records, all partitions together, are applied in one transaction with a few
set-based statements (projections/apply/member_batch.py); PostgreSQL's COPY needs the
transaction out of pipeline mode.

The next poll is taken, and its records decoded, while the server inserts a batch's
first COPYs' rows (Cursor `meanwhile`): Kafka's record parsing and the Avro
decoding, about half of the loop's own work, then overlap the server's instead of
waiting for it. Those records are applied by the next transaction
exactly as if polled after the commit: a partition whose position moved meanwhile (the
batch failed, a restart, a rebalance) is sought back as for any poll (process_polled).
A rebalance during that poll is taken up after the transaction: the database cannot be
asked for positions in the middle of a COPY.

Records are fetched and parsed by librdkafka, the group kept by kafka-python
(consumers/group_reader.py): kafka-python's record parsing in Python was ~15 % of the
loop's time (py-spy); projections stage +7 % by the median of alternating runs
(BENCHMARKS.md, session 10).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, cast

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from consumers.bulk_reader import BulkReader
from consumers.collector import collector_paused
from consumers.group_reader import GroupReader
from consumers.group_watch import GroupWatch
from consumers.kafka import ensure_topics
from consumers.partition_log import NoAnswer, RecordReader
from projections.apply import ConcurrentApply, Event, apply_events
from projections.database import DATABASE_UNAVAILABLE, TRANSACTION_CONFLICT, Cursor, Database
from projections.decoding import event_decoder
from projections.planner_statistics import StatisticsKeeper
from projections.tables import create_tables
from registry.config import Settings
from schemas import topics
from schemas.catalog import Catalog
from schemas.codec import DecodeError

log = logging.getLogger(__name__)

GROUP_ID = "registry-projections"
PROJECTED_TOPICS = (topics.ORGANISATION_EVENTS, topics.MEMBER_EVENTS)
IDLE_GUARD_S = 5.0
# Attempts at a batch that another projector's transaction overlapped (a rebalance).
CONCURRENT_RETRIES = 5
# Records per poll, all applied in one transaction: ~10 MB of records at most.
POLL_RECORDS = 10000


@dataclass
class Position:
    epoch: int
    next_offset: int
    last_event_id: str | None


def header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode() if value is not None else None
    return None


def epoch_and_position(record: ConsumerRecord) -> tuple[int, int | None]:
    """The relay epoch and the store position, in one pass over the headers (read for
    every record)."""
    epoch, position = 0, None
    for key, value in record.headers or ():
        if key == topics.EPOCH:
            epoch = int(value) if value else 0
        elif key == topics.POSITION:
            position = int(value) if value else None
    return epoch, position


class Projector:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        catalog: Catalog,
        *,
        generation: int | None = None,
        make_tables: bool = True,
        apply: Callable[[Cursor, Sequence[Event]], int] = apply_events,
        committed: Callable[[], None] = lambda: None,
    ) -> None:
        """`make_tables`: create the generation's tables if missing (a rebuild makes its
        own, bare, and completes them after the load: projections/rebuild.py). `apply`
        applies a batch's events in its transaction (a rebuild's loading workers hold
        their members in memory: projections/apply/loading.py), and `committed` is told
        when that transaction has committed."""
        self._apply = apply
        self._committed = committed
        self.settings = settings
        self.db = db
        self.catalog = catalog
        self._decoder = event_decoder(catalog)
        # None: follow the live generation; a number: build that one (a rebuild).
        self.generation = generation
        self.positions: dict[TopicPartition, Position] = {}
        self.applied = 0
        self._consumer: KafkaConsumer | None = None
        self.group_watch = GroupWatch()
        self._reader: RecordReader | None = None
        self._last_seen: dict[TopicPartition, float] = {}
        self._checked_live = 0.0
        self._loaded_generation = generation if generation is not None else db.live_generation()
        # run() polls the next records during a batch's COPY (not a caller's own loop).
        self._poll_ahead = False
        self._polled_ahead: dict[TopicPartition, list[ConsumerRecord]] = {}
        # id(records list) -> (that list, each record's decoding or its DecodeError)
        self._decoded_ahead: dict[int, tuple[list[ConsumerRecord], list[Any]]] = {}
        self.applying = False  # in a batch's transaction
        self._revoked_while_applying: set[TopicPartition] = set()
        if make_tables:
            create_tables(db, self._loaded_generation)

    def _transaction(self) -> AbstractContextManager[Cursor]:
        if self.generation is not None:
            return self.db.transaction(generation=self.generation)
        return self.db.transaction(pointer_lock="SHARE")

    def run(self, stop: threading.Event) -> None:
        ensure_topics(self.settings, PROJECTED_TOPICS)
        self._join()
        self._poll_ahead = True
        # Fresh tables get planner statistics within seconds, not autovacuum's minute
        # (projections/planner_statistics.py).
        keeper_stop = threading.Event()
        keeper = None
        if self.db.dialect == "postgres":
            keeper = StatisticsKeeper(self.settings, self.generation).start(keeper_stop)
        try:
            while not stop.is_set():
                assert self._consumer is not None
                if self.group_watch.stuck():
                    log.warning("group membership stuck %.0f s (a rebalance that did not end,"
                                " or nothing polled after the broker lost the topics);"
                                " joining again", self.group_watch.stuck_after_s)
                    self._polled_ahead = {}
                    self._consumer.close(autocommit=False)
                    self._join()
                if self._polled_ahead:
                    polled, self._polled_ahead = self._polled_ahead, {}
                else:
                    # Parsing a poll's records allocates a dozen objects a record, none
                    # in reference cycles (consumers/collector.py).
                    with collector_paused():
                        polled = self._consumer.poll(timeout_ms=100, max_records=POLL_RECORDS)
                try:
                    # A partition whose assignment failed in the rebalance callback (the
                    # database away: the listener logs it) is taken up here; its records
                    # were skipped, and assign seeks back to them.
                    missing = self._consumer.assignment() - self.positions.keys()
                    if missing:
                        self.assign(sorted(missing))
                    if polled:
                        self.group_watch.records_arrived()
                    mine = {tp: rs for tp, rs in polled.items() if tp in self.positions}
                    if mine:
                        self.process_polled(mine)
                        now = time.monotonic()
                        for tp in mine:
                            self._last_seen[tp] = now
                    self._follow_live()
                    self._guard_idle()
                except DATABASE_UNAVAILABLE as error:
                    self._wait_for_database(stop, error)
        finally:
            keeper_stop.set()
            if keeper is not None:
                keeper.join(timeout=30)
            self._poll_ahead = False
            self._polled_ahead = {}
            self._consumer.close(autocommit=False)
            self.close()

    def close(self) -> None:
        """Closes the idle guard's record reader, if it opened one (run does as it ends)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _join(self) -> None:
        self.positions.clear()
        # kafka-python keeps the membership, librdkafka fetches (consumers/group_reader.py);
        # it takes the calls made here of a kafka-python consumer.
        reader = GroupReader(self.settings, group_id=GROUP_ID)
        reader.subscribe(PROJECTED_TOPICS, _Rebalance(self))
        self._consumer = cast(KafkaConsumer, reader)

    def _wait_for_database(self, stop: threading.Event, error: Exception) -> None:
        """The failed batch was rolled back and its positions with it: when the database
        answers again, the partitions go back to the positions it holds."""
        log.warning("read-model database unavailable (%s); retrying", error)
        while not stop.wait(1.0):
            try:
                self.assign(list(self.positions))
                return
            except DATABASE_UNAVAILABLE as again:
                log.warning("read-model database still unavailable (%s)", again)

    def process(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        """One partition's records (see process_polled)."""
        self.process_polled({tp: records})

    def process_polled(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """A poll's records of the assigned partitions, applied in one transaction that
        also stores each partition's position. One transaction for the whole poll
        rather than one per partition: a batch's cost is mostly per statement, so the
        bigger the batch, the cheaper each event (partitions hold disjoint aggregates,
        and each one's records stay in order)."""
        batches = {}
        for tp, records in polled.items():
            if records and records[0].offset != self.positions[tp].next_offset:
                self._seek(tp, self.positions[tp].next_offset)
            elif records:
                batches[tp] = records
        if not batches:
            return
        self._revoked_while_applying.clear()
        self.applying = True
        try:
            for attempt in range(1, CONCURRENT_RETRIES + 1):
                # The batch works on copies: a rolled-back attempt leaves the positions as
                # the database still holds them.
                works = {tp: replace(self.positions[tp]) for tp in batches}
                try:
                    # A batch allocates a few objects per event (decoded records, rows,
                    # tuples), none in reference cycles; the allocations set the cycle
                    # collector off over and over, each full pass walking every live
                    # object (cProfile charged an eighth of a batch to one allocation
                    # site). Paused for the batch; cycles made meanwhile are collected
                    # once it is back on.
                    with collector_paused(), self._transaction() as cur:
                        if self._poll_ahead and not self._polled_ahead:
                            cur.meanwhile = self._poll_next(cur)
                        if cur.generation != self._loaded_generation:
                            switched: int | None = cur.generation
                        else:
                            switched = None
                            applied, restarts = self._process(cur, batches, works)
                except (ConcurrentApply, *TRANSACTION_CONFLICT) as error:
                    if attempt == CONCURRENT_RETRIES:
                        raise
                    log.info("the batch crossed another transaction (%s); again", error)
                    continue
                if switched is None:
                    self._committed()
                break
        finally:
            self.applying = False
        # Partitions revoked by a rebalance during the poll ahead are no longer ours
        # (their positions went into the database with the batch, for the next owner).
        revoked = self._revoked_while_applying
        for tp in revoked:
            works.pop(tp, None)
        if switched is not None:
            # A rebuild went live: assign takes up its positions, which match its tables.
            self.assign(list(self.positions))
            return
        self.positions.update(works)
        self.applied += applied
        for tp in restarts:
            if tp not in revoked:
                self._polled_ahead.pop(tp, None)
                self._seek(tp, 0)

    def _poll_next(self, cur: Cursor) -> Callable[[], None]:
        """The next poll, taken while the server inserts rows (see the module's doc);
        tried again at the batch's next COPY while no records have arrived yet. Its
        records are decoded at the COPY after it (a member batch's first two, history
        and new members, are the longest waits); records the batch had no COPY left to
        decode in are decoded by the next transaction."""
        consumer = self._consumer
        assert consumer is not None

        def poll() -> None:
            self._decoded_ahead = {}  # this batch's: taken by now
            try:
                self._polled_ahead = consumer.poll(timeout_ms=0, max_records=POLL_RECORDS)
            except Exception:  # the loop's own poll meets it again, outside the transaction
                log.debug("poll ahead failed", exc_info=True)
                return
            cur.meanwhile = decode if self._polled_ahead else poll

        def decode() -> None:
            # The next transaction takes each outcome, errors included.
            try:
                self._decoded_ahead = {
                    id(records): (records, [self._decode_value(r) for r in records])
                    for records in self._polled_ahead.values()
                }
            except Exception:  # decoded again, and met again, in the next transaction
                log.debug("decoding ahead failed", exc_info=True)
                self._decoded_ahead = {}

        return poll

    def _decode_value(self, record: ConsumerRecord) -> tuple[str, dict[str, Any]] | DecodeError:
        try:
            return self._decoder.decode(record.value or b"")
        except DecodeError as error:
            return error

    def _process(
        self,
        cur: Cursor,
        batches: dict[TopicPartition, list[ConsumerRecord]],
        positions: dict[TopicPartition, Position],
    ) -> tuple[int, list[TopicPartition]]:
        """Applies the records and stores the positions after them; returns how many
        events were applied and the partitions to read again from their start."""
        events: list[Event] = []
        restarts = []
        for tp, records in batches.items():
            if self._collect(cur, tp, records, positions[tp], events):
                restarts.append(tp)
        applied = self._apply(cur, events)
        for tp, position in positions.items():
            self._save_position(cur, tp, position)
        return applied, restarts

    def _collect(
        self,
        cur: Cursor,
        tp: TopicPartition,
        records: list[ConsumerRecord],
        position: Position,
        events: list[Event],
    ) -> bool:
        """Decodes one partition's records onto `events` and moves its position past
        them; True when the relay started a new epoch among them."""
        ahead = self._decoded_ahead.get(id(records))
        decoded_ahead = ahead[1] if ahead is not None and ahead[0] is records else None
        for i, record in enumerate(records):
            epoch, store_position = epoch_and_position(record)
            if epoch > position.epoch and record.offset > 0 and position.next_offset > 0:
                # The topics were published again from the store: start over here (what
                # came before in this batch is applied and its position kept).
                position.epoch, position.next_offset, position.last_event_id = epoch, 0, None
                self.group_watch.broker_lost()
                return True
            if epoch > position.epoch:
                position.epoch = epoch
            outcome = decoded_ahead[i] if decoded_ahead is not None else None
            decoded = self._decode(cur, tp, record, position, store_position, outcome)
            if decoded is not None:
                events.append(decoded)
            position.next_offset = record.offset + 1
        # Only the last record's id is kept (the idle guard looks for it).
        position.last_event_id = header(records[-1], topics.CE_ID)
        return False

    def _decode(
        self,
        cur: Cursor,
        tp: TopicPartition,
        record: ConsumerRecord,
        position: Position,
        store_position: int | None,
        outcome: tuple[str, dict[str, Any]] | DecodeError | None = None,
    ) -> Event | None:
        """`outcome`: the record decoded already (polled ahead), or its DecodeError."""
        if outcome is None:
            outcome = self._decode_value(record)
        if isinstance(outcome, DecodeError):
            error = outcome
            log.error("undecodable record %s@%d: %s", tp, record.offset, error)
            cur.execute(
                "INSERT INTO rm_undecodable (topic, kafka_partition, record_offset, epoch, reason)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (tp.topic, tp.partition, record.offset, position.epoch, f"{error.reason}: {error}"),
            )
            return None
        name, fields = outcome
        return name, fields, store_position

    # -- positions ------------------------------------------------------------

    def assign(self, tps: list[TopicPartition]) -> None:
        """Positions of these partitions from the generation followed. A projector that
        follows the live one reads which one that is first: when a rebuild went live
        since (seen by a batch, by _follow_live, or by a rebalance right after a switch,
        when the old tables may be gone already), every partition takes up its position
        there, not only those asked for."""
        if self.generation is None:
            live = self.db.live_generation()
            if live != self._loaded_generation:
                log.info("read models now in generation %d; taking up its positions", live)
                self._loaded_generation = live
                tps = list(dict.fromkeys([*self.positions, *tps]))
        rows = self.db.query(
            "SELECT topic, kafka_partition, epoch, next_offset, last_event_id FROM rm_offsets"
            " WHERE consumer = ?",
            (GROUP_ID,),
            generation=self._loaded_generation,
        )
        stored = {TopicPartition(t, p): Position(e, n, last) for t, p, e, n, last in rows}
        for tp in tps:
            self._polled_ahead.pop(tp, None)  # read again from the position sought here
            self.positions[tp] = stored.get(tp, Position(0, 0, None))
            self._last_seen[tp] = time.monotonic()
            self._seek(tp, self.positions[tp].next_offset)

    def take(self, kafka: KafkaConsumer | BulkReader, tps: list[TopicPartition]) -> None:
        """Applies these partitions read by a consumer outside any group (a rebuild's,
        which reads with librdkafka), from the positions the generation holds; only
        seek is asked of it here, the caller polls."""
        kafka.assign(tps)
        self._consumer = cast(KafkaConsumer, kafka)
        self.assign(tps)

    def revoke(self, tps: list[TopicPartition]) -> None:
        for tp in tps:
            self.positions.pop(tp, None)
            self._polled_ahead.pop(tp, None)
        if self.applying:
            self._revoked_while_applying.update(tps)

    def _save_position(self, cur: Cursor, tp: TopicPartition, position: Position) -> None:
        cur.execute(
            "INSERT INTO rm_offsets (consumer, topic, kafka_partition, epoch, next_offset,"
            " last_event_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (consumer, topic,"
            " kafka_partition) DO UPDATE SET epoch = excluded.epoch, next_offset ="
            " excluded.next_offset, last_event_id = excluded.last_event_id",
            (
                GROUP_ID,
                tp.topic,
                tp.partition,
                position.epoch,
                position.next_offset,
                position.last_event_id,
            ),
        )

    def _follow_live(self) -> None:
        """A projector with nothing to apply must still notice a rebuild going live, or
        its idle guard would write positions into tables about to be dropped."""
        now = time.monotonic()
        if self.generation is not None or now - self._checked_live < 1.0:
            return
        self._checked_live = now
        if self.db.live_generation() != self._loaded_generation:
            self.assign(list(self.positions))  # takes up the live generation's positions

    def _guard_idle(self) -> None:
        """A partition quiet for a while may be quiet because the broker lost it and our
        offset now lies past its end: the last record applied must still be there."""
        now = time.monotonic()
        for tp, position in list(self.positions.items()):
            if now - self._last_seen.get(tp, now) < IDLE_GUARD_S or position.next_offset == 0:
                continue
            self._last_seen[tp] = now
            if self._reader is None:
                self._reader = RecordReader(self.settings)
            try:
                record = self._reader.at(tp, position.next_offset - 1)
            except NoAnswer:
                continue  # nothing learnt: asked again when the partition is next idle
            if record is None or header(record, topics.CE_ID) != position.last_event_id:
                log.warning("%s no longer holds what was applied; reading it again", tp)
                self.group_watch.broker_lost()
                # Through the pointer, as a batch is: a rebuild may have gone live since
                # the last batch and the generation these positions came from be dropped
                # (seen: UndefinedTable, rm_offsets, a rebuild hit by a broker restart).
                with self._transaction() as cur:
                    switched = cur.generation != self._loaded_generation
                    if not switched:
                        position.next_offset, position.last_event_id = 0, None
                        self._save_position(cur, tp, position)
                if switched:
                    # The new generation's positions, checked in their turn when idle.
                    self.assign(list(self.positions))
                    return
                self._seek(tp, 0)

    def _seek(self, tp: TopicPartition, offset: int) -> None:
        assert self._consumer is not None
        self._consumer.seek(tp, offset)


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.projector.group_watch.rebalance_began()
        self.projector.revoke(list(revoked))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.projector.group_watch.rebalance_ended()
        if self.projector.applying:
            # Polled ahead during a batch's COPY: the loop takes these partitions up
            # after the transaction (run: assignment() without a position).
            return
        try:
            self.projector.assign(list(assigned))
        except Exception as error:
            # kafka-python 3 raises a listener's error again from poll(), which would end
            # the loop; the loop takes up a partition left without a position instead
            # (run: assignment() without a position), once the database answers.
            log.warning("partitions not taken up in the rebalance (%r); the loop will", error)
