"""Tamper evidence: the relay seals the store's history in chained blocks, publishes the
seals, and `registry audit` finds an event altered in the store afterwards."""

from __future__ import annotations

import sqlite3

import psycopg
from eventsourcing.application import AggregateNotFoundError

from registry.anchors import Anchor, anchor_id, verify
from registry.client import IntegratorClient
from registry.config import Settings
from registry.integrators import register_integrator
from registry.runtime import Backbone
from schemas import topics
from tests.integration.helpers import CITY, AvscDecoder, Sender, read_topic, wait_until

BLOCK = 10


def test_sealed_history_is_published_and_an_altered_event_is_found(settings: Settings) -> None:
    settings = settings.model_copy(update={"anchor_block_size": BLOCK})
    with Backbone(settings) as backbone:
        store = backbone.store
        register_integrator(store, CITY, ["SH"])
        client = IntegratorClient(settings, key_secret=b"test")
        try:
            Sender(client).establish_city()
        finally:
            client.close()

        def sealed(block: int) -> bool:
            try:
                return isinstance(store.repository.get(anchor_id(block)), Anchor)
            except AggregateNotFoundError:
                return False

        wait_until(lambda: sealed(3), what="four sealed blocks")
        checked, findings = verify(store)
        assert checked >= 4 and findings == []

        # The seals left the registry: the copies on the topic chain like the store's.
        decoder = AvscDecoder()
        records = read_topic(settings, topics.ANCHORS, lambda rs: len(rs) >= 4)
        published = {r["block"]: r for r in (decoder.decode(x.value)[1] for x in records)}
        for block in range(4):
            stored = store.repository.get(anchor_id(block))
            assert published[block]["digest"] == stored.digest
        assert published[0]["previous_digest"] == "0" * 64
        assert published[1]["previous_digest"] == published[0]["digest"]

        # Someone with write access to the database edits an event of block 1 and
        # encrypts it again with the store's own key.
        position = BLOCK + 3
        [notification] = store.process_recorder.select_notifications(start=position, limit=1)
        plain = store.mapper.cipher.decrypt(notification.state)
        altered = store.mapper.cipher.encrypt(plain.replace(b'"', b"'", 1))
        _overwrite_state(settings, notification.id, altered)

        checked, findings = verify(store)
        assert [(f.block, f.problem) for f in findings] == [
            (1, "stored events differ from what was sealed")
        ]
    assert backbone.errors == []


def _overwrite_state(settings: Settings, position: int, state: bytes) -> None:
    if settings.uses_postgres:
        pg = settings.postgres()
        with psycopg.connect(
            host=pg["host"],
            port=pg["port"],
            dbname=pg["dbname"],
            user=pg["user"],
            autocommit=True,
        ) as conn:
            conn.execute(
                f'UPDATE "{pg["schema"]}".registry_events SET state = %s'
                " WHERE notification_id = %s",
                (state, position),
            )
        return
    with sqlite3.connect(settings.data_dir / "events.sqlite") as conn:
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state, position))
