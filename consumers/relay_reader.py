"""The relay's reading half: the notification log → the records to publish.

Everything the relay does before the producer (read a page of the log, decrypt, decode,
map to the public record, Avro-encode, build the headers, digest for the seals) is done
by a `PageReader`. The relay runs it in a process of its own (`ReaderProcess`), which
reads and encodes the next page while the relay's process hands the current one to
Kafka. It was made for kafka-python's producer, which took most of a core and would
have taken turns with the reading under one interpreter lock; with librdkafka's producer
(consumers/relay_producer.py) one process or two cost the same CPU per request
(measured, 2026-11-26), and the reading still goes on while a round is acknowledged.

A page carries no decision: the relay's process still checkpoints, seals and starts
epochs, so a reader process that dies or is killed loses nothing (the relay reads again
from its checkpoint).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import queue
import socket
import struct
import subprocess
import sys
import threading
import traceback
from collections import OrderedDict
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, OperationalError

from consumers import event_mapping as mapping
from consumers.collector import collector_paused
from consumers.plain_events import PlainEvents
from registry.anchors import leaf, plain_state
from registry.config import Settings
from registry.heap import keep_heap_flat
from registry.store import STORE_UNAVAILABLE, EventStore, open_event_store
from schemas import topics
from schemas.catalog import Catalog, load_catalog
from schemas.codec import Writer

log = logging.getLogger(__name__)

# Events a request caused sit just before its outcome in the log, in the same
# transaction; this many positions are remembered to give outcomes their positions.
POSITION_WINDOW = 50_000
# Stored events that never leave the store (by their topic in the store): integrators'
# scopes and organisations' tallies.
NEVER_PUBLISHED = ("domain.integrator:", "registry.tally:")
# Headers every record carries with the same value.
_SPECVERSION = (topics.CE_SPECVERSION, topics.CE_SPECVERSION_VALUE.encode())
_SOURCE = (topics.CE_SOURCE, topics.CE_SOURCE_VALUE.encode())
_CONTENT_TYPE = (topics.CONTENT_TYPE, topics.CONTENT_TYPE_VALUE.encode())
# How long the relay waits for a page from its reader process before giving it up.
READ_TIMEOUT_S = 120.0
# Pages the reader process may have read ahead, waiting here to be sent.
PAGES_AHEAD = 3
_ROOT = str(Path(__file__).resolve().parents[1])
# A file name here makes the reader process write a cProfile of itself there when it
# ends (the relay's own profile does not see into it): `python -m bench.profile`.
PROFILE_ENV = "REGISTRY_RELAY_READER_PROFILE"
# Where the stored events' classes are (their topics name them).
_AGGREGATE_MODULES = (
    "domain.member", "domain.organisation", "domain.change_request", "registry.anchors",
)

# topic, murmur2 hash of the key (None: no key), key, value, headers (all but the epoch;
# the event id is the second's value)
Outgoing = tuple[str, int | None, bytes | None, bytes, list[tuple[str, bytes]]]
# Where the event id is among the headers.
EVENT_ID_HEADER = 1


@dataclass(frozen=True)
class Page:
    """One read of the log: every stored event from `start` to `last`."""

    start: int
    last: int  # start - 1 when nothing was read
    count: int  # notifications read
    records: list[Outgoing]  # in store order
    leaves: list[tuple[int, bytes]]  # (position, its part of the block digest); [] if not sealing


def key_hash(key: bytes) -> int:
    """kafka-python's DefaultPartitioner hash (the Java client's murmur2, positive): the
    partition of a key is `sorted(partitions)[key_hash(key) % len(partitions)]`.

    kafka-python's own `murmur2` works byte by byte in Python; this one takes the key
    four bytes at a time and costs half as much (tests compare the two)."""
    length = len(key)
    m = 0x5BD1E995
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    whole = length & ~3
    for (k,) in _U32.iter_unpack(key[:whole]):
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        h = ((h * m) & 0xFFFFFFFF) ^ ((k * m) & 0xFFFFFFFF)
    extra = length & 3
    if extra:
        if extra == 3:
            h ^= key[whole + 2] << 16
        if extra >= 2:
            h ^= key[whole + 1] << 8
        h = ((h ^ key[whole]) * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h & 0x7FFFFFFF


_U32 = struct.Struct("<I")


class PageReader:
    """Reads pages of the log and makes each stored event's record."""

    def __init__(self, store: EventStore, catalog: Catalog, *, sealing: bool) -> None:
        self.store = store
        self.catalog = catalog
        self.recorder = store.process_recorder
        self.sealing = sealing
        self._positions: OrderedDict[tuple[str, int], int] = OrderedDict()
        # Each event is decrypted once, for its record and for its seal; these turn the
        # plain state into the domain event.
        self._events = PlainEvents(store.mapper.transcoder)
        # Per schema: its writer (parsed once for writing) and its two headers.
        self._writers: dict[str, tuple[Writer, tuple[str, bytes], tuple[str, bytes]]] = {}

    def warm(self) -> None:
        """Imports the aggregates' modules and parses every event schema for writing, so
        that the first pages cost what the others do."""
        for module in _AGGREGATE_MODULES:
            importlib.import_module(module)
        for name in self.catalog.by_name:
            if name.startswith(mapping.NAMESPACE + "."):
                self._writer(name)

    def read(self, start: int, limit: int) -> Page:
        notifications = self.recorder.select_notifications(start=start, limit=limit)
        if not notifications:
            return Page(start, start - 1, 0, [], [])
        if not self._positions and notifications[0].id > 1:
            self._remember_positions_before(notifications[0].id - 1)
        records: list[Outgoing] = []
        leaves: list[tuple[int, bytes]] = []
        sealing = self.sealing
        for notification in notifications:
            self._remember_position(notification)
            never = notification.topic.startswith(NEVER_PUBLISHED)
            if never and not sealing:
                continue  # not decrypted nor decoded: nothing of it leaves the store
            plain = plain_state(self.store, notification)
            if sealing:
                leaves.append((notification.id, leaf(notification, plain)))
            if never:
                continue  # decrypted for its seal only: nothing of it leaves the store
            outgoing = self._outgoing(notification, plain)
            if outgoing is not None:
                records.append(outgoing)
        return Page(start, notifications[-1].id, len(notifications), records, leaves)

    def _outgoing(self, notification: Notification, plain: bytes) -> Outgoing | None:
        publication = self._publication(notification, plain)
        if publication is None:
            return None
        writer, ce_type, fingerprint = self._writer(publication.schema_name)
        record = publication.record
        ev_id: str = record["event_id"]
        key = publication.key
        subject = ev_id.rpartition(":")[0].encode()
        if subject == key:
            subject = key  # one object, pickled once, for the relay's process to unpickle
        headers = [
            _SPECVERSION,
            (topics.CE_ID, ev_id.encode()),
            _SOURCE,
            ce_type,
            (topics.CE_TIME, record["recorded_at"].isoformat().encode()),
            (topics.CE_SUBJECT, subject),
            _CONTENT_TYPE,
            (topics.POSITION, str(notification.id).encode()),
            fingerprint,
        ]
        return (
            publication.topic,
            None if key is None else key_hash(key),
            key,
            writer.encode(record),
            headers,
        )

    def _publication(self, notification: Notification, plain: bytes) -> mapping.Publication | None:
        aggregate_id = notification.originator_id
        event = self._events.event(notification.topic, aggregate_id, str(aggregate_id),
                                   notification.originator_version, plain)
        qualname = type(event).__qualname__
        topic = mapping.topic_of(qualname)
        if topic == topics.CHANGE_OUTCOMES:
            decided = event if qualname.endswith("Decided") else self._decided(aggregate_id)
            return mapping.outcome_record(decided, event, self._caused(decided))
        if topic == topics.DEAD_LETTERS:
            return mapping.dead_letter_record(event)
        return mapping.domain_record(self.catalog, event)

    def _writer(self, name: str) -> tuple[Writer, tuple[str, bytes], tuple[str, bytes]]:
        try:
            return self._writers[name]
        except KeyError:
            writer = Writer(self.catalog.by_name[name].source)
            self._writers[name] = entry = (
                writer,
                (topics.CE_TYPE, name.encode()),
                (topics.SCHEMA_FINGERPRINT, writer.fingerprint.hex().encode()),
            )
            return entry

    def _decided(self, request_id: UUID) -> Any:
        return next(iter(self.store.events.get(request_id, lte=1)))

    def _caused(self, decided: Any) -> list[dict[str, Any]]:
        positions = self._positions
        return [
            {
                # The uuid's string straight from its hex (Avro carries the string).
                "aggregate_id": "-".join((aggregate_hex[:8], aggregate_hex[8:12],
                                          aggregate_hex[12:16], aggregate_hex[16:20],
                                          aggregate_hex[20:])),
                "version": version,
                "event_type": mapping.schema_name_of(qualname),
                "store_position": positions.get((aggregate_hex, version)),
            }
            for aggregate_hex, version, qualname in decided.caused
        ]

    def _remember_position(self, notification: Notification) -> None:
        key = (notification.originator_id.hex, notification.originator_version)
        self._positions[key] = notification.id
        if len(self._positions) > POSITION_WINDOW:
            self._positions.popitem(last=False)

    def _remember_positions_before(self, position: int) -> None:
        # After a restart the window is empty; the events an outcome refers to are at
        # most one ingest transaction back.
        first = max(1, position - 5_000)
        for notification in self.recorder.select_notifications(
            start=first, stop=position, limit=position - first + 1
        ):
            self._remember_position(notification)


class ReaderProcess:
    """A `PageReader` in a process of its own, over its own connection to the store the
    settings name.

    Asked to read from a position, it streams: page after page, each from where the one
    before ended, until a page comes back empty (the end of the log), it fails, or it is
    asked to read from elsewhere. A thread here receives the pages into a short queue, so
    the two processes run side by side a few pages apart instead of in lockstep (one
    page ahead, each waited for the other whenever the machine was busy)."""

    def __init__(self, settings: Settings, *, sealing: bool, ahead: int = PAGES_AHEAD) -> None:
        self.settings = settings
        self.sealing = sealing
        self.ahead = ahead
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._receiver: threading.Thread | None = None
        self._closed = threading.Event()
        self._received: queue.Queue[tuple[int | None, str, Any]] = queue.Queue(maxsize=ahead)
        self._stream = 0  # number of the last stream asked for
        self._next: int | None = None  # where its next page starts; None: it has ended

    def start(self) -> None:
        if self._process is not None:
            return
        # A fresh interpreter (`python -m consumers.relay_reader`), not multiprocessing:
        # fork would copy the relay's threads' locks, and spawn imports the parent's main
        # module again, which a script without a __main__ guard cannot take.
        parent, child = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (_ROOT, env.get("PYTHONPATH"))))
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "consumers.relay_reader", str(child.fileno())],
                pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL,
            )
        finally:
            child.close()
        conn = Connection(parent.detach())
        self._process, self._conn = process, conn
        try:
            conn.send((self.settings, self.sealing))
            if not conn.poll(READ_TIMEOUT_S):
                raise TimeoutError(f"not ready in {READ_TIMEOUT_S:.0f} s")
            kind, payload = conn.recv()
        except (OSError, EOFError, TimeoutError) as error:
            self.close()
            raise OperationalError(f"the relay's reader process failed ({error!r})") from None
        if kind != "ready":
            self.close()
            raise OperationalError(payload)
        self._closed.clear()
        self._received = queue.Queue(maxsize=self.ahead)
        self._stream, self._next = 0, None
        self._receiver = threading.Thread(
            target=self._receive, args=(conn, self._received), name="relay-reader-pages",
            daemon=True,
        )
        self._receiver.start()

    def read(self, start: int, limit: int) -> Page:
        self.start()
        assert self._conn is not None
        if self._next != start:
            self._stream += 1
            try:
                self._conn.send(("stream", self._stream, start, limit))
            except OSError as error:
                self.close()
                raise OperationalError(f"the relay's reader process is gone ({error!r})") from None
            self._next = start
        while True:
            try:
                stream, kind, payload = self._received.get(timeout=READ_TIMEOUT_S)
            except queue.Empty:
                self.close()
                raise OperationalError(f"no page in {READ_TIMEOUT_S:.0f} s") from None
            if kind == "gone":
                self.close()  # started again on the next read
                raise OperationalError(f"the relay's reader process ended ({payload})")
            if stream != self._stream:
                continue  # read ahead from where the relay no longer is: dropped
            if kind == "page":
                assert isinstance(payload, Page) and payload.start == start
                self._next = payload.last + 1 if payload.count else None
                return payload
            self._next = None  # the stream stopped at the error
            if kind == "unavailable":
                raise OperationalError(payload)
            raise RuntimeError(f"the relay's reader process failed:\n{payload}")

    def close(self) -> None:
        process, conn, receiver = self._process, self._conn, self._receiver
        self._process = self._conn = self._receiver = None
        self._next = None
        self._closed.set()
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(None)
        if process is not None:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if receiver is not None:
            receiver.join(timeout=5)  # the process is gone: its end of the socket is closed
        if conn is not None:
            conn.close()

    def _receive(self, conn: Connection, received: queue.Queue[tuple[int | None, str, Any]]
                 ) -> None:
        while True:
            try:
                data = conn.recv_bytes()
            except (EOFError, OSError) as error:
                item: tuple[int | None, str, Any] = (None, "gone", repr(error))
            else:
                with collector_paused():  # not while waiting: only while unpickling
                    item = ForkingPickler.loads(data)
            while not self._closed.is_set():
                try:
                    received.put(item, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if item[1] == "gone" or self._closed.is_set():
                return


def _serve(conn: Connection) -> None:
    """The reader process: streams pages from where it is asked, until None or the
    relay's process is gone."""
    try:
        settings, sealing = conn.recv()
    except (EOFError, OSError):
        return
    try:
        store = open_event_store(settings)
    except STORE_UNAVAILABLE as error:
        with contextlib.suppress(OSError):
            conn.send(("unavailable", f"event store unavailable in the reader: {error}"))
        return
    try:
        reader = PageReader(store, load_catalog(), sealing=sealing)
        reader.warm()
        # A page allocates a dozen objects per event (states, records, headers), none in
        # reference cycles, so reference counting frees them all; but the allocations
        # set the cycle collector off over and over, each pass walking the young objects
        # and every so often all of them. In this process the collector runs between
        # pages only, over what the reading makes (the modules and schemas loaded until
        # now are set aside for good).
        gc.freeze()
        conn.send(("ready", None))
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            if request is None:
                return
            _, stream, start, limit = request
            while True:
                # Paused until the page is sent and dropped, not just read: back on with
                # the page alive, the first allocation set off a pass over all of its
                # objects (6 % of this process's samples at 2,000 requests/s, py-spy).
                # Dropped, they are no longer counted, and no pass follows.
                with collector_paused():
                    answer = _answer(reader, stream, start, limit)
                    try:
                        conn.send(answer)
                    except OSError:
                        return
                    _, kind, payload = answer  # a page, or why there is none
                    follows = kind == "page" and payload.count > 0
                    if follows:
                        start = payload.last + 1
                    del answer, payload
                if not follows or conn.poll(0):
                    break  # the end of the log, an error, or asked to read elsewhere
    finally:
        store.close()


def _answer(reader: PageReader, stream: int, start: int, limit: int) -> tuple[int, str, Any]:
    """A page read from `start`, or why there is none."""
    try:
        return (stream, "page", reader.read(start, limit))
    except STORE_UNAVAILABLE as error:
        return (stream, "unavailable", f"event store unavailable in the reader: {error}")
    except Exception:
        return (stream, "failed", traceback.format_exc())


def _main(fd: int) -> None:
    keep_heap_flat()  # pages of megabytes, for as long as the relay runs
    conn = Connection(fd)
    profile_to = os.environ.get(PROFILE_ENV)
    if not profile_to:
        _serve(conn)
        return
    import cProfile

    profile = cProfile.Profile()
    try:
        profile.runcall(_serve, conn)
    finally:
        profile.dump_stats(profile_to)


if __name__ == "__main__":
    # The module's importable copy, not this __main__ one: pages must unpickle in the
    # relay's process as consumers.relay_reader.Page.
    from consumers import relay_reader

    logging.basicConfig(level=logging.WARNING)
    relay_reader._main(int(sys.argv[1]))
