"""One path through the whole backbone, on SQLite and on PostgreSQL: requests published →
outcomes read back → events decoded from the topic with only the .avsc files → rosters."""

from __future__ import annotations

from projections import queries
from registry.client import IntegratorClient
from registry.config import Settings
from registry.integrators import register_integrator
from registry.runtime import Backbone, ingest_context
from schemas import topics
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


def test_requests_become_events_outcomes_and_rosters(settings: Settings) -> None:
    with Backbone(settings) as backbone:
        register_integrator(backbone.store, CITY, ["SH"])
        client = IntegratorClient(settings, key_secret=b"test")
        try:
            sender = Sender(client)
            sender.establish_city()
            persons = crowd(6)
            c1, c2 = "SH-XH-S1-C1", "SH-XH-S1-C2"
            home = {p.citizen_id: (c1 if i < 3 else c2) for i, p in enumerate(persons)}
            applied = sender.send(sender.apply(p, home[p.citizen_id]) for p in persons)
            assert all(o["accepted"] for o in applied)
            activists = sender.send(
                sender.request(
                    home[p.citizen_id], "AdmitActivist", 100, member_citizen_id=p.citizen_id
                )
                for p in persons[:2]
            )
            assert all(o["accepted"] for o in activists)
            mover = persons[0]
            [started] = sender.send(
                [
                    sender.request(
                        c1,
                        "StartTransfer",
                        20,
                        member_citizen_id=mover.citizen_id,
                        to_organisation_code=c2,
                        letter_number="L-1",
                        valid_days=None,
                    )
                ]
            )
            [accepted] = sender.send(
                [
                    sender.request(
                        c2,
                        "AcceptTransfer",
                        10,
                        member_citizen_id=mover.citizen_id,
                        letter_number="L-1",
                    )
                ]
            )
            assert started["accepted"] and accepted["accepted"]
            # A request for a member nobody knows: rejected, with its code.
            stranger = crowd(1, seed=99)[0]
            [unknown] = sender.send(
                [sender.request(c1, "AdmitActivist", 1, member_citizen_id=stranger.citizen_id)]
            )
            assert (unknown["accepted"], unknown["code"]) == (False, "UNKNOWN_MEMBER")
            assert unknown["caused"] == []

            # The outcome names the events and their store positions.
            assert [c["event_type"] for c in accepted["caused"]] == [
                "registry.events.MemberTransferAccepted"
            ]
            assert accepted["caused"][0]["store_position"] > 0

            member_events = {
                (str(c["aggregate_id"]), c["version"])
                for o in sender.outcomes.values()
                for c in o["caused"]
                if c["event_type"].startswith("registry.events.Member")
            }
            records = read_topic(
                settings, topics.MEMBER_EVENTS, lambda rs: len(rs) >= len(member_events)
            )
            decoder = AvscDecoder()
            seen = set()
            member_id = str(ingest_context(settings).member_ids.for_citizen(mover.citizen_id))
            for record in records:
                name, event = decoder.decode(record.value)
                headers = dict(record.headers)
                assert headers["ce_specversion"] == b"1.0"
                assert headers["ce_type"].decode() == name
                assert headers["ce_id"].decode() == event["event_id"]
                assert headers["ce_subject"].decode() == str(event["aggregate_id"])
                assert record.key.decode() == str(event["aggregate_id"])
                for person in persons:  # personal data never on a public topic
                    assert person.citizen_id.encode() not in record.value
                    assert person.phone.encode() not in record.value
                seen.add((str(event["aggregate_id"]), event["version"]))
            assert seen == member_events

            wait_until(
                lambda: projections_caught_up(
                    backbone.read_models, caused_by(sender.outcomes.values())
                ),
                what="projections",
            )
            db = backbone.read_models
            assert len(queries.roster(db, c1)) == 2
            assert len(queries.roster(db, c2)) == 4
            street = queries.rollup(db, "SH-XH-S1")
            assert street["total"] == 6
            assert street["by_stage"]["ACTIVIST"] == 2
            assert street["by_stage"]["APPLICANT"] == 4
            assert queries.rollup(db, "SH")["total"] == 6
            assert queries.rollup(db, "SH-PD")["total"] == 0
            trail = queries.member_trail(db, member_id)
            assert [t["event_type"] for t in trail] == [
                "MemberApplied",
                "MemberActivistAdmitted",
                "MemberTransferStarted",
                "MemberTransferAccepted",
            ]
            assert all(t["source_system"] == CITY for t in trail)
        finally:
            client.close()
        assert backbone.errors == []
