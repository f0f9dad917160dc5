"""A loop that follows the store's log wakes when events commit (PostgreSQL's NOTIFY),
and loses no wake-up between its read of the log and its wait. The waits' timeouts are
30 s, so a loop that was not woken would take at least that long."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from registry.config import Settings
from registry.new_events import NewEvents
from registry.store import EventStore, open_event_store
from registry.tally import OrganisationTally
from tests.conftest import DATABASE_URL

NEVER_S = 30.0


def _settings(tmp_path: Path, schema: str | None) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=None if schema is None else f"{DATABASE_URL}?schema={schema}",
        kafka_bootstrap="127.0.0.1:1",  # never used: no Kafka here
        member_id_key="ab" * 32,
        cipher_key="w3Xh3Q0o8ho4GmSxYbGPGcLw0p2SaS0Rx4Jf7D1Ojq8=",
    )


def _tally() -> OrganisationTally:
    return OrganisationTally(organisation_id=uuid.uuid4())


def _last_position(store: object) -> int:
    return store.process_recorder.max_notification_id() or 0  # type: ignore[attr-defined]


@contextmanager
def _listening(settings: Settings, stop: threading.Event) -> Iterator[tuple[EventStore, NewEvents]]:
    """A store and a loop's NewEvents on it, listening (as the relay starts)."""
    store = open_event_store(settings)
    new_events = NewEvents(settings, store, stop)
    try:
        new_events.listen()
        yield store, new_events
    finally:
        new_events.close()
        store.close()


def test_a_commit_wakes_the_waiting_loop(tmp_path: Path, pg_schema: str) -> None:
    settings = _settings(tmp_path, pg_schema)
    writer = open_event_store(settings)
    try:
        with _listening(settings, threading.Event()) as (store, new_events):
            assert new_events.listening
            threading.Timer(0.3, lambda: writer.save(_tally())).start()
            started = time.monotonic()
            # Other stores on this database share the channel: a wake-up may find nothing.
            while _last_position(store) == 0 and time.monotonic() - started < NEVER_S:
                new_events.wait(NEVER_S)
            assert _last_position(store) > 0
            assert time.monotonic() - started < NEVER_S / 2
    finally:
        writer.close()


def test_a_commit_before_the_wait_is_not_missed(tmp_path: Path, pg_schema: str) -> None:
    with _listening(_settings(tmp_path, pg_schema), threading.Event()) as (store, new_events):
        assert _last_position(store) == 0  # the loop read the log: nothing yet
        store.save(_tally())  # committed before the loop waits
        started = time.monotonic()
        new_events.wait(NEVER_S)
        assert time.monotonic() - started < NEVER_S / 2


def test_on_sqlite_the_wait_is_a_sleep_that_stop_ends(tmp_path: Path) -> None:
    stop = threading.Event()
    with _listening(_settings(tmp_path, None), stop) as (_, new_events):
        assert not new_events.listening
        started = time.monotonic()
        new_events.wait(0.2)
        assert time.monotonic() - started >= 0.2
        stop.set()
        started = time.monotonic()
        new_events.wait(NEVER_S)
        assert time.monotonic() - started < NEVER_S / 2
