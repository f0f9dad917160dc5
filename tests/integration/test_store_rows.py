"""The events a save inserts, as the binary array `registry/store_rows.py` builds:
the bytes psycopg itself would send, and a save through it is eventsourcing's save
(the rows, the notification, the conflict)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from psycopg.adapt import PyFormat, Transformer
from psycopg.sql import SQL, Identifier

from registry.config import Settings
from registry.store import EventStore, open_event_store
from registry.store_rows import RowEncoder
from registry.tally import OrganisationTally
from tests.conftest import DATABASE_URL


@pytest.fixture
def store(pg_schema: str, tmp_path: Path) -> Iterator[EventStore]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"{DATABASE_URL}?schema={pg_schema}",
        kafka_bootstrap="127.0.0.1:1",  # never used: no Kafka here
        member_id_key="ab" * 32,
        cipher_key="w3Xh3Q0o8ho4GmSxYbGPGcLw0p2SaS0Rx4Jf7D1Ojq8=",
    )
    opened = open_event_store(settings)
    yield opened
    opened.close()


def _events() -> list[StoredEvent]:
    return [
        StoredEvent(uuid.uuid4(), 1, "domain.member:Member.Applied", b"\x00\x01state"),
        StoredEvent(uuid.uuid4(), 2**40, "registry.tally:OrganisationTally.Counted", b""),
        StoredEvent(
            str(uuid.uuid4()), 7, "domain.member:Mitglied.Überführt", bytes(range(256)) * 9
        ),
    ]


def test_the_array_is_the_one_psycopg_sends(store: EventStore) -> None:
    recorder = store.recorder
    info = recorder.datastore.psycopg_type_adapters[recorder.stored_event_type_name]
    events = _events()
    rows = [
        info.python_type(uuid.UUID(str(e.originator_id)), e.originator_version, e.topic, e.state)
        for e in events
    ]
    with recorder.datastore.get_connection() as conn:
        dumper = Transformer(conn).get_dumper(rows, PyFormat.BINARY)
        psycopg_bytes = bytes(dumper.dump(rows))

    assert RowEncoder(info).encode(events).data == psycopg_bytes


def test_a_save_through_it_is_eventsourcings_save(store: EventStore) -> None:
    recorder = store.recorder
    assert recorder._insert_stored_events.__module__ == "registry.store_rows"
    listener = psycopg.connect(DATABASE_URL, autocommit=True)
    listener.execute(SQL("LISTEN {}").format(Identifier(recorder.channel_name)))
    try:
        events = _events()
        store.process_recorder.insert_events(events, tracking=Tracking("t/0@1", 5))

        stored = [recorder.select_events(e.originator_id)[0] for e in events]
        assert [(str(s.originator_id), s.originator_version, s.topic, s.state) for s in stored] == [
            (str(e.originator_id), e.originator_version, e.topic, e.state) for e in events
        ]
        assert [n.originator_version for n in recorder.select_notifications(1, 10)] == [
            e.originator_version for e in events
        ]
        assert [n.channel for n in listener.notifies(timeout=2, stop_after=1)] == [
            recorder.channel_name
        ]
        with pytest.raises(IntegrityError):
            store.process_recorder.insert_events(events[:1], tracking=Tracking("t/0@1", 6))
        assert recorder.max_tracking_id("t/0@1") == 5
    finally:
        listener.close()


def test_aggregates_saved_through_it_come_back_whole(store: EventStore) -> None:
    tally = OrganisationTally(organisation_id=uuid.uuid4())
    for _ in range(3):
        tally.count(subject_id=uuid.uuid4(), deltas={"HOLDS": 1})
    store.save(tally)

    again = store.repository.get(tally.id)

    assert again.version == tally.version == 4
    assert again.__dict__ == tally.__dict__
