"""The event store: an `eventsourcing` application over SQLite or PostgreSQL.

Its recorder is a process recorder, so the events a batch of change requests causes
and the Kafka offset they came from commit in one transaction (tracking records).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    InterfaceError,
    JSONTranscoder,
    OperationalError,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
    Tracking,
    Transcoder,
    Transcoding,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

from registry.config import Settings
from registry.store_json import StoreTranscoder
from registry.store_rows import send_rows_prebuilt


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class BytesAsHex(Transcoding):
    type = bytes
    name = "bytes_hex"

    def encode(self, obj: bytes) -> str:
        return obj.hex()

    def decode(self, data: str) -> bytes:
        return bytes.fromhex(data)


@dataclass(frozen=True)
class PreparedSave:
    """A save's events in their stored form, with its tracking records."""

    stored_events: list[StoredEvent]
    trackings: tuple[Tracking, ...]


class EventStore(Application):
    """The system of record. Only its repository and recorder are used by the adapters."""

    name = "registry"

    def construct_transcoder(self) -> Transcoder:
        """eventsourcing's JSON, by orjson (registry/store_json.py), unless the
        environment names another transcoder (TRANSCODER_TOPIC)."""
        if self.factory.env.get(self.factory.TRANSCODER_TOPIC):
            return super().construct_transcoder()
        transcoder = StoreTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        transcoder.register(BytesAsHex())

    def construct_recorder(self) -> ProcessRecorder:
        recorder = self.factory.process_recorder()
        _track_several(recorder)
        if isinstance(recorder, PostgresApplicationRecorder):
            _send_events_in_binary(recorder)
            send_rows_prebuilt(recorder)
            _fetch_ids_as_tuples(recorder)
        return recorder

    @property
    def process_recorder(self) -> ProcessRecorder:
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def record(self, events: Sequence[Any], *trackings: Tracking) -> None:
        """Saves these events and the tracking records (one or more) in one
        transaction: what `self.events.put(events, tracking=tracking)` does, without
        the `Recording` (and `Notification`) objects it builds for every event and the
        ingest never reads (~3 us an event here). Raises IntegrityError as it does,
        also when any one of the tracking records is not past its name's last."""
        self.write(self.prepare(events, *trackings))

    def prepare(self, events: Sequence[Any], *trackings: Tracking) -> PreparedSave:
        """The stored form of a `record`: what `write` then sends, possibly from
        another thread (the ingest's saving behind)."""
        if not trackings:
            raise ValueError("record: at least one tracking record")
        to_stored_event = self.mapper.to_stored_event
        return PreparedSave([to_stored_event(event) for event in events], trackings)

    def write(self, prepared: PreparedSave) -> None:
        """Saves what `prepare` made, in one transaction (see `record`)."""
        first, *more = prepared.trackings
        self.process_recorder.insert_events(
            prepared.stored_events, tracking=first, **{_MORE_TRACKING: more}
        )

    def take(
        self, aggregate_ids: Collection[UUID], held: dict[UUID, Aggregate] | None = None
    ) -> dict[UUID, Aggregate]:
        """The current state of each of these aggregates that has events, read in one
        query: a cached one is fast-forwarded by the events recorded since it was cached
        (by this process or another), the others are built from all their events.
        `held`: some of them as the caller has them already (ahead of the store, maybe),
        fast-forwarded as the cached ones are.

        What is returned belongs to the caller: cached aggregates are taken out of the
        cache rather than copied (a deep copy of each cost more than its load), so one
        the caller changes and fails to save is simply gone from the cache. Give them
        back with `keep` once the changes are saved."""
        cache = self.repository.cache
        cached: dict[UUID, Aggregate] = dict(held or {})
        if cache is not None:
            # Most ids a batch asks for are not cached (new requests, new members), and
            # a miss raised and caught cost 0.8 us against 0.03 us for a look first.
            entries = cache.cache
            for aggregate_id in aggregate_ids:
                if aggregate_id not in cached and aggregate_id in entries:
                    with contextlib.suppress(KeyError):  # evicted meanwhile by another thread
                        cached[aggregate_id] = cache.get(aggregate_id, evict=True)
        after = {a: (cached[a].version if a in cached else 0) for a in aggregate_ids}
        taken: dict[UUID, Aggregate] = {}
        for aggregate_id, events in self._events_after(after).items():
            # eventsourcing's project_aggregate, without its runtime Protocol check of
            # every event (a fifth of the time here); these are the store's own events.
            aggregate = cached.get(aggregate_id)
            for event in events:
                aggregate = event.mutate(aggregate)
            if aggregate is not None:
                taken[aggregate_id] = aggregate
        for aggregate_id, aggregate in cached.items():
            taken.setdefault(aggregate_id, aggregate)  # nothing new since it was cached
        return taken

    def keep(self, aggregates: Iterable[Aggregate]) -> None:
        """Puts saved aggregates (back) in the cache, so that the next `take` reads only
        what is recorded after them."""
        cache = self.repository.cache
        if cache is not None:
            for aggregate in aggregates:
                cache.put(aggregate.id, aggregate)

    def _events_after(self, versions: dict[UUID, int]) -> dict[UUID, list[Any]]:
        """Each aggregate's events after the given version, in order; one query on
        PostgreSQL (a round trip each was most of the ingest's time), one statement
        per aggregate on SQLite, which is in the process."""
        if not versions:
            return {}
        recorder = self.recorder
        stored: list[StoredEvent]
        if isinstance(recorder, PostgresApplicationRecorder):
            # One primary-key lookup per id, whatever the planner believes: as a plain
            # join, a table not yet analysed (or estimates of ten rows for the array)
            # made it hash-join a scan of the whole table, 0.7 s a batch at 1M members.
            # The lateral subquery with OFFSET 0 cannot be flattened into a join. The
            # arrays go in binary form: as text, psycopg wrote each id out (7 ms a
            # batch of 2,000 requests, 1.7 ms so; measured).
            statement = SQL(
                "SELECT e.originator_id, e.originator_version, e.topic, e.state"
                " FROM unnest(%b::uuid[], %b::bigint[]) WITH ORDINALITY AS k(id, v, n)"
                " CROSS JOIN LATERAL (SELECT * FROM {schema}.{table} r"
                " WHERE r.originator_id = k.id AND r.originator_version > k.v OFFSET 0) e"
                " ORDER BY k.n, e.originator_version"
            ).format(
                schema=Identifier(recorder.datastore.schema),
                table=Identifier(recorder.events_table_name),
            )
            # Committed, not rolled back, though it writes nothing: psycopg forgets every
            # statement it prepared on a connection at a rollback (`DEALLOCATE ALL`), and
            # this pooled connection is the one that stores the batch next, whose
            # statements would then be parsed and prepared again at every batch.
            with recorder.datastore.transaction(commit=True) as cursor:
                # The same estimates would have it compile the query (JIT), ~15 ms.
                cursor.execute("SELECT set_config('jit', 'off', true)")
                cursor.execute(statement, (list(versions), list(versions.values())))
                # Rows as tuples: a dict per row was a third of this query's time.
                cursor.row_factory = tuple_row
                stored = [
                    StoredEvent(
                        originator_id=_uuid(originator_id),
                        originator_version=originator_version,
                        topic=topic,
                        state=bytes(state),
                    )
                    for originator_id, originator_version, topic, state in cursor.fetchall()
                ]
        else:
            stored = [
                event
                for aggregate_id, version in versions.items()
                for event in recorder.select_events(aggregate_id, gt=version)
            ]
        events: dict[UUID, list[Any]] = {}
        to_domain_event = self.mapper.to_domain_event
        for event in stored:
            events.setdefault(_uuid(event.originator_id), []).append(to_domain_event(event))
        return events


_MORE_TRACKING = "more_tracking"


def _track_several(recorder: ProcessRecorder) -> None:
    """eventsourcing's process recorders insert the one `tracking` record an
    `insert_events` is given, in its transaction; the ingest saves several partitions'
    batches at once, each with its own. The others go in the same way, through the
    recorder's own `_insert_tracking` (the same statement, the same IntegrityError when
    one is not past its name's last), before the events."""
    insert_events = recorder._insert_events  # type: ignore[attr-defined]
    insert_tracking = recorder._insert_tracking  # type: ignore[attr-defined]

    def _insert_events(cursor: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        for tracking in kwargs.pop(_MORE_TRACKING, ()):
            insert_tracking(cursor, tracking)
        return insert_events(cursor, stored_events, **kwargs)

    recorder._insert_events = _insert_events  # type: ignore[attr-defined]


def _send_events_in_binary(recorder: PostgresApplicationRecorder) -> None:
    """eventsourcing sends a save's events as one array of composite rows in text
    form, which psycopg escapes with a regular expression per field: 160 ms for 2,500
    events against 30 ms in binary form (measured here), and 12 % of the ingest's time.
    Same statement, its one parameter sent in binary (`%b`); left as it is should a
    later eventsourcing shape the statement otherwise."""
    parts = list(recorder.insert_events_statement)
    texts = [p.as_string(None) if isinstance(p, SQL) else "" for p in parts]
    if sum(t.count("%s") for t in texts) != 1:
        return
    recorder.insert_events_statement = Composed(
        [
            SQL(t.replace("%s", "%b")) if isinstance(p, SQL) else p
            for p, t in zip(parts, texts, strict=True)
        ]
    )


def _fetch_ids_as_tuples(recorder: PostgresApplicationRecorder) -> None:
    """eventsourcing reads back the notification id of each event a save inserted as
    a dict per row (psycopg's `dict_row`, the recorder's row factory): ~5 % of the
    ingest's time for a one-column result. The same ids and the same error, read as
    tuples; left as it is should a later eventsourcing read them otherwise."""
    original = type(recorder)._fetch_ids_after_insert_events
    if original is not PostgresApplicationRecorder._fetch_ids_after_insert_events:
        return

    def fetch_ids(
        curs: psycopg.Cursor[Any], stored_events: Sequence[StoredEvent], **_: Any
    ) -> list[int]:
        assert curs.statusmessage and curs.statusmessage.startswith("INSERT"), curs.statusmessage
        curs.row_factory = tuple_row
        try:
            return [row[0] for row in curs.fetchall()]
        except psycopg.ProgrammingError as error:
            message = f"Couldn't get all notification IDs (got 0, expected {len(stored_events)})"
            raise ProgrammingError(message) from error

    recorder._fetch_ids_after_insert_events = fetch_ids  # type: ignore[method-assign]


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


# What a loop treats as "the event store is away for now": retry, do not die.
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


def store_environment(settings: Settings) -> dict[str, str]:
    _, cipher_key = settings.keys()
    env: dict[str, str] = {
        # AES-GCM through OpenSSL (the `cryptography` package): ~4 µs per event where
        # PyCryptodome's took ~70 µs and was half of the relay's time; eventsourcing's
        # AESCipher with one key context per thread and nonces read in blocks.
        "CIPHER_TOPIC": "registry.cipher:StoreCipher",
        "CIPHER_KEY": cipher_key,
        # Aggregates a batch loaded stay cached; the next load reads only the events
        # recorded since (fast-forward), so an organisation's tally or a member is not
        # replayed from its first event for every batch. The ingest takes them out of
        # the cache (`take`) and gives them back once saved (`keep`), so a batch that
        # fails to save leaves nothing of its changes there.
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
    }
    if settings.uses_postgres:
        pg = settings.postgres()
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=pg["dbname"],
            POSTGRES_HOST=pg["host"],
            POSTGRES_PORT=pg["port"],
            POSTGRES_USER=pg["user"],
            POSTGRES_PASSWORD=pg["password"],
            POSTGRES_POOL_SIZE="4",
            # A pooled connection is checked before use, so one broken by a database
            # restart is replaced instead of failing the next transaction.
            POSTGRES_PRE_PING="y",
        )
        if pg["schema"]:
            env["POSTGRES_SCHEMA"] = pg["schema"]
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite",
            SQLITE_DBNAME=str(settings.data_dir / "events.sqlite"),
            SQLITE_LOCK_TIMEOUT="30",
        )
    return env


def open_event_store(settings: Settings, **extra: Any) -> EventStore:
    if not settings.uses_postgres:
        return EventStore(env={**store_environment(settings), **extra})
    with _connect(settings) as conn:
        # eventsourcing creates its tables, type and function when a store opens. Two
        # processes doing that at once (a loop restarting while the relay's reader
        # starts) made PostgreSQL fail one with "tuple concurrently updated", and that
        # loop died at start; a session lock serialises the openings (released with the
        # connection, so a killed process does not keep it).
        conn.execute("SELECT pg_advisory_lock(hashtext('registry.event-store.ddl'))")
        schema = settings.postgres()["schema"]
        if schema:
            # eventsourcing creates its tables but not the schema they live in.
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
        return EventStore(env={**store_environment(settings), **extra})


def _connect(settings: Settings) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(**settings.postgres_connect_args(), autocommit=True)
    except psycopg.OperationalError as error:
        # The loops wait out STORE_UNAVAILABLE, which is eventsourcing's error type.
        raise OperationalError(str(error)) from error
