"""The relay: follows the store's notification log and publishes every event on Kafka.

At least once, in store order, with a stable event id (aggregate id + version) in the
headers and a checkpoint kept in the store's own tracking table. A crash repeats at most
one round, which consumers skip by event id.

Topics are a copy of the store. When the broker has lost them (Tansu keeps nothing
across a restart), the relay starts a new *epoch*: it publishes everything again from
the first position, with the epoch number in a header, so consumers know to re-read.

Reading the log and making the records (consumers/relay_reader.py) happens in a process
of its own, a page ahead of this one, which hands records to Kafka, checkpoints, seals
and keeps the epochs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from eventsourcing.persistence import Tracking
from kafka import TopicPartition
from kafka.errors import KafkaError

from consumers.kafka import ensure_topics
from consumers.partition_log import NoAnswer, RecordReader
from consumers.relay_producer import ACKNOWLEDGEMENT_TIMEOUT_S, Acknowledgement, RelayProducer
from consumers.relay_reader import (
    EVENT_ID_HEADER,
    NEVER_PUBLISHED,
    POSITION_WINDOW,
    Page,
    PageReader,
    ReaderProcess,
)
from registry.anchors import Sealer
from registry.config import Settings
from registry.new_events import NewEvents
from registry.store import STORE_UNAVAILABLE, EventStore
from schemas import topics
from schemas.catalog import Catalog

log = logging.getLogger(__name__)

EPOCH_TRACKING = "relay#epoch"
RELAYED_TOPICS = (
    topics.MEMBER_EVENTS,
    topics.ORGANISATION_EVENTS,
    topics.CHANGE_OUTCOMES,
    topics.DEAD_LETTERS,
    topics.ANCHORS,
)
__all__ = ["EPOCH_TRACKING", "POSITION_WINDOW", "RELAYED_TOPICS", "Relay"]

# Longest an idle relay that listens for commits waits before it reads the log anyway
# (and probes the topics: a broker that lost them sends no signal).
LISTENING_WAIT_S = 1.0
# Rounds handed to the producer before the oldest must be acknowledged.
ROUNDS_IN_FLIGHT = 2
# Outcomes go after the events they caused, dead letters before them; the rest by name.
_TOPIC_ORDER = {topics.CHANGE_OUTCOMES: 2, topics.DEAD_LETTERS: 1}
# key, value, headers
_Record = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def _hand_over_order(group: tuple[str, int | None]) -> tuple[int, str, int]:
    topic, partition = group
    return (_TOPIC_ORDER.get(topic, 0), topic, -1 if partition is None else partition)


@dataclass
class _Round:
    last_position: int
    sends: list[tuple[Acknowledgement, str, list[tuple[str, bytes]]]]  # topic, headers


class Relay:
    def __init__(self, settings: Settings, store: EventStore, catalog: Catalog, *,
                 reader_process: bool = True) -> None:
        """With `reader_process` (the default) the log is read and the records made in a
        process of its own, over its own connection to the store the settings name;
        without, in this one."""
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.recorder = store.process_recorder
        self._producer: RelayProducer | None = None
        self._reader: RecordReader | None = None
        # (topic, partition) → (offset, headers) of the last record published there.
        self._last_published: dict[tuple[str, int], tuple[int, list[tuple[str, bytes]]]] = {}
        self._last_probe = 0.0
        self._in_flight: deque[_Round] = deque()
        self._sealer = (
            Sealer(store, settings.anchor_block_size) if settings.anchor_block_size else None
        )
        sealing = self._sealer is not None
        self._pages: PageReader | ReaderProcess = (
            ReaderProcess(settings, sealing=sealing) if reader_process
            else PageReader(store, catalog, sealing=sealing)
        )
        self._sent: int | None = None  # highest position handed to the producer
        self.epoch = self.recorder.max_tracking_id(EPOCH_TRACKING) or 0
        self._published = self.epoch > 0 and (
            self._published_in_epoch() or self._published_before_the_mark()
        )
        if self.epoch == 0:
            self._start_epoch(1, "a new store")

    # -- public ---------------------------------------------------------------

    @property
    def position(self) -> int:
        """The last store position known to be on Kafka (the checkpoint)."""
        return self.recorder.max_tracking_id(self._checkpoint_name) or 0

    def warm_up(self) -> None:
        """Connects the producer and starts the reader process (else the first round does)."""
        self._kafka().connect()
        if isinstance(self._pages, ReaderProcess):
            self._pages.start()

    def run(self, stop: threading.Event, idle_sleep_s: float = 0.05) -> None:
        """`idle_sleep_s`: how long an idle relay waits before it reads the log again
        when the store cannot wake it (SQLite); a store that can (PostgreSQL's NOTIFY,
        registry/new_events.py) wakes it at the commit, or after LISTENING_WAIT_S."""
        ensure_topics(self.settings, RELAYED_TOPICS)
        self._check_topics_still_there(force=True)
        new_events = NewEvents(self.settings, self.store, stop)
        new_events.listen()
        try:
            while not stop.is_set():
                try:
                    if self.run_once() == 0:
                        self._check_topics_still_there()
                        new_events.wait(LISTENING_WAIT_S if new_events.listening
                                        else idle_sleep_s)  # fmt: skip
                except KafkaError as error:
                    log.warning("relay round failed (%r); new producer, from the checkpoint", error)
                    self._abandon_rounds()
                    self._reset_producer()
                    stop.wait(0.5)
                except STORE_UNAVAILABLE as error:
                    log.warning("event store unavailable (%s); from the checkpoint", error)
                    self._abandon_rounds()
                    stop.wait(1.0)
        finally:
            new_events.close()
            self.close()

    def run_once(self) -> int:
        """Hands the next round of events to the producer and settles the rounds before it
        (their acknowledgements arrive while this one is read and encoded); with nothing
        new, settles every round. Returns how many notifications the new round passed."""
        if self._sent is None:
            self._sent = self.position
        page = self._pages.read(self._sent + 1, self.settings.relay_batch_size)
        if page.count:
            self._in_flight.append(self._send(page))
            self._sent = page.last
        if self._producer is not None:
            self._producer.serve()
        while self._in_flight and (len(self._in_flight) > ROUNDS_IN_FLIGHT or not page.count):
            self._settle(self._in_flight.popleft())
        return page.count

    def _send(self, page: Page) -> _Round:
        """Hands one page of the log to the producer: partition by partition, each
        partition's records in store order (an aggregate's events share its key, so its
        partition), outcomes after the events they caused."""
        if self._sealer is not None:
            self._sealer.feed(page.start, page.last, page.leaves)
        kafka = self._kafka()
        epoch = (topics.EPOCH, str(self.epoch).encode())
        partitions: dict[str, list[int]] = {}  # as the producer's metadata has them now
        groups: dict[tuple[str, int | None], list[_Record]] = {}
        for topic, key_hash, key, value, headers in page.records:
            partition = None
            if key_hash is not None:
                of_topic = partitions.get(topic)
                if of_topic is None:
                    of_topic = partitions[topic] = kafka.partitions_for(topic)
                partition = of_topic[key_hash % len(of_topic)]  # the default partitioner's
            headers.append(epoch)
            groups.setdefault((topic, partition), []).append((key, value, headers))
        sends: list[tuple[Acknowledgement, str, list[tuple[str, bytes]]]] = []
        # A partition the producer no longer knows (the topic changed under this round:
        # a broker that lost it made it again, with another partition count) raises
        # KafkaError: the round is redone from the checkpoint, as after any failed send.
        for topic, partition in sorted(groups, key=_hand_over_order):
            for key, value, headers in groups[(topic, partition)]:
                sends.append((kafka.send(topic, partition, key, value, headers), topic, headers))
        return _Round(page.last, sends)

    def _settle(self, round_: _Round) -> None:
        """Waits for a round's acknowledgements, then checkpoints it."""
        lost: tuple[str, int] | None = None
        last_published = self._last_published
        kafka = self._kafka()
        deadline = time.monotonic() + ACKNOWLEDGEMENT_TIMEOUT_S
        for acknowledgement, topic, headers in round_.sends:
            # Raises KafkaError (failed, or no answer in time): redone from the checkpoint.
            kafka.wait_for(acknowledgement, deadline)
            tp = (topic, acknowledgement.partition)
            previous = last_published.get(tp)
            if previous is not None and acknowledgement.offset <= previous[0]:
                lost = tp  # the broker hands out offsets it gave before: it forgot the log
            last_published[tp] = (acknowledgement.offset, headers)
        if lost:
            self._start_epoch(self.epoch + 1, f"{lost} was given offsets it had given before")
            return
        if round_.sends and not self._published:
            # Before the checkpoint: a checkpoint past published records always has it.
            self.recorder.insert_tracking(Tracking(self._published_name, 1))
            self._published = True
        self.recorder.insert_tracking(Tracking(self._checkpoint_name, round_.last_position))
        if self._sealer is not None:
            # Seal only what is on Kafka: the seal's own event follows in a later round.
            self._sealer.seal_up_to(round_.last_position)

    def _abandon_rounds(self) -> None:
        """Rounds not acknowledged are sent again, from the checkpoint."""
        self._in_flight.clear()
        self._sent = None

    def close(self) -> None:
        if isinstance(self._pages, ReaderProcess):
            self._pages.close()
        if self._producer is not None:
            self._producer.close(timeout=5)
        if self._reader is not None:
            self._reader.close()

    # -- epochs ---------------------------------------------------------------

    @property
    def _checkpoint_name(self) -> str:
        return f"relay@{self.epoch}"

    @property
    def _published_name(self) -> str:
        return f"relay@{self.epoch}#published"

    def _published_in_epoch(self) -> bool:
        """Whether this epoch has put any record on the topics. Its checkpoint alone does
        not tell: a round of events that never leave the store (an integrator's scope,
        a tally) moves it too, and empty topics were then taken for lost ones (seen: a
        new epoch at the start of a test, before the broker had lost anything)."""
        return self.recorder.max_tracking_id(self._published_name) is not None

    def _start_epoch(self, epoch: int, why: str) -> None:
        self._abandon_rounds()
        if epoch > 1:
            log.warning("relay epoch %d (%s): publishing the whole store again", epoch, why)
        self.recorder.insert_tracking(Tracking(EPOCH_TRACKING, epoch))
        self.epoch = epoch
        self._last_published.clear()
        self._published = False

    def _check_topics_still_there(self, *, force: bool = False) -> None:
        """Every few seconds, read back the last record published; if it is gone, the
        broker lost the topics and a new epoch begins."""
        now = time.monotonic()
        if not force and now - self._last_probe < 5:
            return
        self._last_probe = now
        reader = self._reader_client()
        if self._last_published:
            (topic, partition), (offset, headers) = next(iter(self._last_published.items()))
            try:
                record = reader.at(TopicPartition(topic, partition), offset)
            except NoAnswer:
                return  # nothing learnt: probed again at the next idle moment
            found = dict(record.headers).get(topics.CE_ID) if record else None
            if found != headers[EVENT_ID_HEADER][1]:
                self._start_epoch(self.epoch + 1, f"{topic}/{partition} at {offset} holds"
                                  f" {'nothing' if record is None else found!r}, not the"
                                  f" {headers[EVENT_ID_HEADER][1]!r} published there")  # fmt: skip
        elif self._published:
            tps = [tp for t in RELAYED_TOPICS for tp in reader.partitions(t)]
            # No partitions known is not knowing (the reader's metadata may not have
            # the topics yet), not empty topics.
            if tps and reader.empty(tps):
                self._start_epoch(self.epoch + 1, "the topics are empty")

    def _published_before_the_mark(self) -> bool:
        """A store whose relay checkpointed before epochs were marked as published into:
        whether its log up to the checkpoint holds an event that leaves the store (read
        once, at the first such start; the mark is then made)."""
        checkpoint, start = self.position, 1
        while start <= checkpoint:
            notifications = self.recorder.select_notifications(start, 1000, stop=checkpoint)
            if not notifications:
                return False
            if any(not n.topic.startswith(NEVER_PUBLISHED) for n in notifications):
                self.recorder.insert_tracking(Tracking(self._published_name, 1))
                return True
            start = notifications[-1].id + 1
        return False

    # -- clients --------------------------------------------------------------

    def _kafka(self) -> RelayProducer:
        if self._producer is None:
            self._producer = RelayProducer(self.settings)
        return self._producer

    def _reset_producer(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=1)
        self._producer = None

    def _reader_client(self) -> RecordReader:
        if self._reader is None:
            self._reader = RecordReader(self.settings)
        return self._reader
