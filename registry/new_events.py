"""Waiting for new events in the store, for the loops that follow its notification log.

eventsourcing's PostgreSQL recorder sends a NOTIFY on the events table's channel in
every transaction that writes events, delivered when it commits. A loop that listens
wakes at the commit instead of at its next poll of the log (the relay polled every
50 ms, which was a sixth of a request's way to its outcome). SQLite has no such signal:
there the wait is a plain sleep.

No wake-up is lost: the LISTEN is in place before the loop first reads the log, so a
commit after that read is either seen by the next read or waiting here as a
notification. A notification can also make a read find nothing new (its events were
read already): that costs one read, never correctness. Every wait is bounded, so a
missed notification (the connection lost and made again) only delays the next read.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

from registry.config import Settings
from registry.store import EventStore

log = logging.getLogger(__name__)


class NewEvents:
    """`wait(timeout_s)` returns when the store may hold events committed since the last
    wait returned, or when the timeout is up, or when `stop` is set."""

    def __init__(self, settings: Settings, store: EventStore, stop: threading.Event) -> None:
        self._settings = settings
        self._stop = stop
        recorder = store.process_recorder
        self._channel = (
            recorder.channel_name if isinstance(recorder, PostgresApplicationRecorder) else None
        )
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def listening(self) -> bool:
        return self._conn is not None

    def listen(self) -> None:
        """Starts listening (before the first read of the log). On SQLite, or with the
        database away, the waits are sleeps until a later `listen` succeeds."""
        if self._channel is None or self._conn is not None:
            return
        try:
            conn = psycopg.connect(**self._settings.postgres_connect_args(), autocommit=True)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except psycopg.Error as error:
            log.warning("cannot listen for new events (%s); polling the log", error)
            return
        self._conn = conn

    def wait(self, timeout_s: float) -> None:
        if self._conn is None:
            self.listen()
            if self._conn is not None:
                return  # notifications before the LISTEN are lost: read the log once
            self._stop.wait(timeout_s)
            return
        try:
            # Notifications that came while the loop was busy: one read covers them all.
            if any(True for _ in self._conn.notifies(timeout=0)):
                return
            if not self._stop.is_set():
                for _ in self._conn.notifies(timeout=timeout_s, stop_after=1):
                    return
        except psycopg.Error as error:
            log.warning("lost the listening connection (%s); listening again", error)
            self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()
