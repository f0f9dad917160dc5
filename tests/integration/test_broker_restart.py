"""Tansu forgets everything when it restarts. The store is the system of record: the
relay must fill the topics again, every loop must carry on, and nothing may be counted
twice."""

from __future__ import annotations

from pathlib import Path

from projections import queries
from registry.broker import LocalBroker
from registry.client import IntegratorClient
from registry.integrators import register_integrator
from registry.runtime import Backbone
from schemas import topics
from tests.conftest import make_settings
from tests.integration.helpers import (
    CITY,
    AvscDecoder,
    Sender,
    caused_by,
    crowd,
    projections_caught_up,
    read_topic,
    wait_until,
)


def test_a_restarted_broker_is_refilled_from_the_store(
    tmp_path: Path, broker: LocalBroker, pg_schema: str
) -> None:
    settings = make_settings(tmp_path, broker, pg_schema)
    with Backbone(settings) as backbone:
        register_integrator(backbone.store, CITY, ["SH"])
        client = IntegratorClient(settings, key_secret=b"test")
        sender = Sender(client)
        sender.establish_city()
        persons = crowd(8)
        before = sender.send(sender.apply(p, "SH-PD-S1-C1") for p in persons[:5])
        assert all(o["accepted"] for o in before)
        db = backbone.read_models
        wait_until(
            lambda: projections_caught_up(db, caused_by(sender.outcomes.values())),
            what="projections before the restart",
        )
        client.close()

        broker.restart()  # every topic and every committed offset is gone

        # The relay notices, starts a new epoch and publishes the whole store again.
        expected = {
            (str(c["aggregate_id"]), c["version"])
            for o in sender.outcomes.values()
            for c in o["caused"]
            if c["event_type"].startswith("registry.events.Member")
        }
        decoder = AvscDecoder()

        def republished(records: list) -> bool:
            got = {
                (str(e["aggregate_id"]), e["version"])
                for e in (decoder.decode(r.value)[1] for r in records)
            }
            return expected <= got

        records = read_topic(settings, topics.MEMBER_EVENTS, republished, timeout_s=90)
        assert {dict(r.headers)["registry_epoch"] for r in records} == {b"2"}

        # New requests after the restart: the ingest reads the new log from its start.
        client = IntegratorClient(settings, key_secret=b"test")
        sender.client = client
        after = sender.send((sender.apply(p, "SH-PD-S1-C1") for p in persons[5:]), timeout_s=90)
        assert all(o["accepted"] for o in after), after
        # Re-sending a request from before the restart changes nothing.
        [again] = sender.send([sender.apply(persons[0], "SH-PD-S1-C1")])
        assert (again["accepted"], again["code"]) == (False, "ALREADY_A_MEMBER")
        client.close()

        wait_until(
            lambda: projections_caught_up(db, caused_by(sender.outcomes.values())),
            timeout_s=90,
            what="projections after the restart",
        )
        roster = queries.roster(db, "SH-PD-S1-C1")
        assert len(roster) == 8
        assert len({r["member_id"] for r in roster}) == 8
        assert queries.rollup(db, "SH")["total"] == 8
        audit = db.query(
            "SELECT aggregate_id, version, count(*) FROM rm_audit"
            " GROUP BY aggregate_id, version HAVING count(*) > 1"
        )
        assert audit == []
    assert backbone.errors == []
