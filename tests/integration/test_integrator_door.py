"""What an integrator can get wrong at the door, through the real broker: bytes that are
not a request, a request sent twice, a request id reused with another body."""

from __future__ import annotations

from projections import queries
from registry.client import IntegratorClient
from registry.config import Settings
from registry.integrators import register_integrator
from registry.runtime import Backbone
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


def test_bad_bytes_repeats_and_conflicts_each_get_their_answer(settings: Settings) -> None:
    with Backbone(settings) as backbone:
        register_integrator(backbone.store, CITY, ["SH"])
        client = IntegratorClient(settings, key_secret=b"test")
        try:
            sender = Sender(client)
            sender.establish_city()
            person, other = crowd(2, seed=3)

            # Not a request at all, and a request of a schema nobody knows: both go to the
            # dead letters with their bytes; the request behind them is still handled.
            garbage = b"\x00\x01not avro at all"
            unknown = b"\xc3\x01" + b"\x11" * 8 + b"\x02"
            client.publish_bytes(b"k1", garbage)
            client.publish_bytes(b"k2", unknown)
            apply = sender.apply(person, "SH-XH-S1-C1")
            [first] = sender.send([apply])
            assert first["accepted"]

            letters = read_topic(settings, topics.DEAD_LETTERS, lambda rs: len(rs) >= 2)
            decoder = AvscDecoder()
            decoded = {
                bytes(r["original_value"]): r
                for _, r in map(decoder.decode, (x.value for x in letters))
            }
            assert decoded[garbage]["reason"].startswith("bad-marker")
            assert decoded[unknown]["reason"].startswith("unknown-fingerprint")
            assert decoded[garbage]["original_key"] == b"k1"

            # The same request again: the same answer, nothing applied twice.
            client.publish(apply)
            client.flush()
            key = (apply["source_system"], apply["request_id"])
            repeat = client.wait_for_count(key, 2)[1]
            assert (repeat["accepted"], repeat["caused"]) == (True, first["caused"])

            # The same id with another body: refused, the first outcome stands.
            conflicting = sender.apply(other, "SH-XH-S1-C1")
            conflicting["request_id"] = apply["request_id"]
            client.publish(conflicting)
            client.flush()
            refused = client.wait_for_count(key, 3)[2]
            assert (refused["accepted"], refused["code"]) == (
                False,
                "DUPLICATE_REQUEST_ID_CONFLICT",
            )
            assert refused["caused"] == []

            wait_until(
                lambda: projections_caught_up(
                    backbone.read_models, caused_by(sender.outcomes.values())
                ),
                what="projections",
            )
            roster = queries.roster(backbone.read_models, "SH-XH-S1-C1")
            assert [r["name"] for r in roster] == [person.name]
        finally:
            client.close()
        assert backbone.errors == []
