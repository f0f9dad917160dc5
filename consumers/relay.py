"""The relay: follows the store's notification log and publishes every event on Kafka.

At least once, in store order, with a stable event id (aggregate id + version) in the
headers and a checkpoint kept in the store's own tracking table. A crash repeats at most
one round, which consumers skip by event id.

Topics are a copy of the store. When the broker has lost them (Tansu keeps nothing
across a restart), the relay starts a new *epoch*: it publishes everything again from
the first position, with the epoch number in a header, so consumers know to re-read.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, Tracking
from kafka import KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from consumers import event_mapping as mapping
from consumers.kafka import ensure_topics, producer
from consumers.partition_log import RecordReader
from registry.anchors import Sealer
from registry.config import Settings
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
# Events a request caused sit just before its outcome in the log, in the same
# transaction; this many positions are remembered to give outcomes their positions.
POSITION_WINDOW = 50_000


# Rounds handed to the producer before the oldest must be acknowledged.
ROUNDS_IN_FLIGHT = 2
# Stored events that never leave the store (by their topic in the store): integrators'
# scopes and organisations' tallies.
_NEVER_PUBLISHED = ("domain.integrator:", "registry.tally:")


@dataclass
class _Round:
    last_position: int
    sends: list[tuple[Future[Any], str, str]]


class Relay:
    def __init__(self, settings: Settings, store: EventStore, catalog: Catalog) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.recorder = store.process_recorder
        self._producer: KafkaProducer | None = None
        self._reader: RecordReader | None = None
        self._positions: OrderedDict[tuple[str, int], int] = OrderedDict()
        # (topic, partition) → (offset, event id) of the last record published there.
        self._last_published: dict[tuple[str, int], tuple[int, str]] = {}
        self._last_probe = 0.0
        self._in_flight: deque[_Round] = deque()
        self._sealer = (
            Sealer(store, settings.anchor_block_size) if settings.anchor_block_size else None
        )
        self._sent: int | None = None  # highest position handed to the producer
        self.epoch = self.recorder.max_tracking_id(EPOCH_TRACKING) or 0
        if self.epoch == 0:
            self._start_epoch(1)

    # -- public ---------------------------------------------------------------

    @property
    def position(self) -> int:
        """The last store position known to be on Kafka (the checkpoint)."""
        return self.recorder.max_tracking_id(self._checkpoint_name) or 0

    def run(self, stop: threading.Event, idle_sleep_s: float = 0.05) -> None:
        ensure_topics(self.settings, RELAYED_TOPICS)
        self._check_topics_still_there(force=True)
        try:
            while not stop.is_set():
                try:
                    if self.run_once() == 0:
                        self._check_topics_still_there()
                        stop.wait(idle_sleep_s)
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
            self.close()

    def run_once(self) -> int:
        """Hands the next round of events to the producer and settles the rounds before it
        (their acknowledgements arrive while this one is read and encoded); with nothing
        new, settles every round. Returns how many notifications the new round passed."""
        if self._sent is None:
            self._sent = self.position
        notifications = self.recorder.select_notifications(
            start=self._sent + 1, limit=self.settings.relay_batch_size
        )
        if notifications:
            self._in_flight.append(self._send(notifications))
            self._sent = notifications[-1].id
        while self._in_flight and (len(self._in_flight) > ROUNDS_IN_FLIGHT or not notifications):
            self._settle(self._in_flight.popleft())
        return len(notifications)

    def _send(self, notifications: Sequence[Notification]) -> _Round:
        if not self._positions and notifications[0].id > 1:
            self._remember_positions_before(notifications[0].id - 1)
        kafka = self._kafka()
        sends: list[tuple[Future[Any], str, str]] = []
        for notification in notifications:
            self._remember_position(notification)
            if notification.topic.startswith(_NEVER_PUBLISHED):
                continue  # not decrypted nor decoded: nothing of it leaves the store
            publication = self._publication(notification)
            if publication is None:
                continue
            future = kafka.send(
                publication.topic,
                key=publication.key,
                value=self.catalog.encode(publication.schema_name, publication.record),
                headers=self._headers(publication, notification.id),
            )
            sends.append((future, publication.topic, publication.record["event_id"]))
        return _Round(notifications[-1].id, sends)

    def _settle(self, round_: _Round) -> None:
        """Waits for a round's acknowledgements, then checkpoints it."""
        lost = False
        for future, topic, ev_id in round_.sends:
            metadata = future.get(timeout=30)  # raises KafkaError: redone from the checkpoint
            tp = (topic, metadata.partition)
            previous = self._last_published.get(tp)
            if previous is not None and metadata.offset <= previous[0]:
                lost = True  # the broker hands out offsets it gave before: it forgot the log
            self._last_published[tp] = (metadata.offset, ev_id)
        if lost:
            self._start_epoch(self.epoch + 1)
            return
        self.recorder.insert_tracking(Tracking(self._checkpoint_name, round_.last_position))
        if self._sealer is not None:
            # Seal only what is on Kafka: the seal's own event follows in a later round.
            self._sealer.seal_up_to(round_.last_position)

    def _abandon_rounds(self) -> None:
        """Rounds not acknowledged are sent again, from the checkpoint."""
        self._in_flight.clear()
        self._sent = None

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
        if self._reader is not None:
            self._reader.close()

    # -- epochs ---------------------------------------------------------------

    @property
    def _checkpoint_name(self) -> str:
        return f"relay@{self.epoch}"

    def _start_epoch(self, epoch: int) -> None:
        self._abandon_rounds()
        if epoch > 1:
            log.warning("relay epoch %d: publishing the whole store again", epoch)
        self.recorder.insert_tracking(Tracking(EPOCH_TRACKING, epoch))
        self.epoch = epoch
        self._last_published.clear()

    def _check_topics_still_there(self, *, force: bool = False) -> None:
        """Every few seconds, read back the last record published; if it is gone, the
        broker lost the topics and a new epoch begins."""
        now = time.monotonic()
        if not force and now - self._last_probe < 5:
            return
        self._last_probe = now
        reader = self._reader_client()
        if self._last_published:
            (topic, partition), (offset, ev_id) = next(iter(self._last_published.items()))
            record = reader.at(TopicPartition(topic, partition), offset)
            found = dict(record.headers).get(topics.CE_ID, b"").decode() if record else None
            if found != ev_id:
                self._start_epoch(self.epoch + 1)
        elif self.position > 0:
            tps = [tp for t in RELAYED_TOPICS for tp in reader.partitions(t)]
            if reader.empty(tps):
                self._start_epoch(self.epoch + 1)

    # -- records --------------------------------------------------------------

    def _publication(self, notification: Notification) -> mapping.Publication | None:
        event = self.store.mapper.to_domain_event(notification)
        qualname = type(event).__qualname__
        topic = mapping.topic_of(qualname)
        if topic == topics.CHANGE_OUTCOMES:
            decided = event if qualname.endswith("Decided") else self._decided(event)
            return mapping.outcome_record(decided, event, self._caused(decided))
        if topic == topics.DEAD_LETTERS:
            return mapping.dead_letter_record(event)
        return mapping.domain_record(self.catalog, event)

    def _decided(self, event: Any) -> Any:
        return next(iter(self.store.events.get(event.originator_id, lte=1)))

    def _caused(self, decided: Any) -> list[dict[str, Any]]:
        return [
            {
                "aggregate_id": UUID(aggregate_hex),
                "version": version,
                "event_type": mapping.schema_name_of(qualname),
                "store_position": self._positions.get((aggregate_hex, version)),
            }
            for aggregate_hex, version, qualname in decided.caused
        ]

    def _headers(self, publication: mapping.Publication, position: int) -> list[tuple[str, bytes]]:
        record = publication.record
        return [
            (topics.CE_SPECVERSION, b"1.0"),
            (topics.CE_ID, record["event_id"].encode()),
            (topics.CE_SOURCE, topics.CE_SOURCE_VALUE.encode()),
            (topics.CE_TYPE, publication.schema_name.encode()),
            (topics.CE_TIME, record["recorded_at"].isoformat().encode()),
            (topics.CE_SUBJECT, str(record["aggregate_id"]).encode()),
            (topics.CONTENT_TYPE, topics.CONTENT_TYPE_VALUE.encode()),
            (topics.POSITION, str(position).encode()),
            (
                topics.SCHEMA_FINGERPRINT,
                self.catalog.fingerprint(publication.schema_name).hex().encode(),
            ),
            (topics.EPOCH, str(self.epoch).encode()),
        ]

    def _remember_position(self, notification: Notification) -> None:
        key = (notification.originator_id.hex, notification.originator_version)
        self._positions[key] = notification.id
        while len(self._positions) > POSITION_WINDOW:
            self._positions.popitem(last=False)

    def _remember_positions_before(self, position: int) -> None:
        # After a restart the window is empty; the events an outcome refers to are at
        # most one ingest transaction back.
        first = max(1, position - 5_000)
        for notification in self.recorder.select_notifications(
            start=first, stop=position, limit=position - first + 1
        ):
            self._remember_position(notification)

    # -- clients --------------------------------------------------------------

    def _kafka(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = producer(self.settings)
        return self._producer

    def _reset_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(KafkaError):
                self._producer.close(timeout=1)
        self._producer = None

    def _reader_client(self) -> RecordReader:
        if self._reader is None:
            self._reader = RecordReader(self.settings)
        return self._reader
