"""A member taken from application to full membership by change requests sent through Kafka,
on SQLite and on PostgreSQL: every stage's outcome, a refused approval, the events on the
topic and the read model at the end."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import uuid4

from domain.member import Member
from domain.provenance import Provenance
from projections import queries
from registry.city import Person
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
from tests.unit.handler_world import FoundingSponsor

BRANCH, STREET = "SH-XH-S1-C1", "SH-XH-S1"


def ago(days: int) -> date:
    return date.today() - timedelta(days=days)


def one(sender: Sender, acting: str, kind: str, days_ago: int, **fields: Any) -> dict[str, Any]:
    [outcome] = sender.send([sender.request(acting, kind, days_ago, **fields)])
    return outcome


def accepted(sender: Sender, acting: str, kind: str, days_ago: int, **fields: Any) -> dict:
    outcome = one(sender, acting, kind, days_ago, **fields)
    assert outcome["accepted"], (kind, outcome["code"], outcome["offending_values"])
    return outcome


def to_target(sender: Sender, person: Person, start: int) -> int:
    """Application on day `start` (days ago) up to a reviewed, trained development target;
    returns the day of the target decision."""
    assert sender.send([sender.apply(person, BRANCH, start)])[0]["accepted"]
    who = {"member_citizen_id": person.citizen_id}
    accepted(sender, BRANCH, "AdmitActivist", start - 10, **who)
    target = start - 10 - 366  # a year as activist, leap years included
    accepted(sender, BRANCH, "AdmitDevelopmentTarget", target, **who)
    accepted(sender, BRANCH, "RecordPoliticalReview", target - 1, passed=True, **who)
    accepted(sender, BRANCH, "RecordTraining", target - 2, days=3, hours=0, **who)
    return target


def to_full(sender: Sender, person: Person, meeting: int) -> dict[str, Any]:
    who = {"member_citizen_id": person.citizen_id}
    accepted(
        sender, STREET, "AdmitProbationary", meeting, approved_on=ago(meeting - 20),
        delay_reason=None, **who,
    )  # fmt: skip
    converted = meeting - 367  # after the year of probation
    return accepted(
        sender, STREET, "ConvertToFull", converted, approved_on=ago(converted - 3), **who
    )


def test_a_member_becomes_full_through_kafka(settings: Settings) -> None:
    with Backbone(settings) as backbone:
        register_integrator(backbone.store, CITY, ["SH"])
        client = IntegratorClient(settings, key_secret=b"test")
        member_ids = ingest_context(settings).member_ids
        try:
            sender = Sender(client)
            sender.establish_city()
            first, second, subject = crowd(3, seed=23)

            # The first full members' own sponsors predate the registry: named through the
            # domain on the store, everything else by requests.
            for founder in (first, second):
                target = to_target(sender, founder, 1700)
                member = backbone.store.repository.get(member_ids.for_citizen(founder.citizen_id))
                assert isinstance(member, Member)
                member.name_sponsors(
                    sponsors=[FoundingSponsor(uuid4()), FoundingSponsor(uuid4())],
                    effective_date=ago(target - 3),
                    recorded_on=date.today(),
                    by=Provenance(request_id=f"founding-{founder.citizen_id[-4:]}",
                                  source_system="test"),
                )  # fmt: skip
                backbone.store.save(member)
                to_full(sender, founder, target - 4)

            target = to_target(sender, subject, 800)
            who = {"member_citizen_id": subject.citizen_id}
            accepted(
                sender, BRANCH, "NameSponsors", target - 3,
                sponsor_citizen_ids=[first.citizen_id, second.citizen_id], **who,
            )  # fmt: skip
            # The branch votes, but only a committee above community level approves.
            refused = one(
                sender, BRANCH, "AdmitProbationary", target - 4, approved_on=ago(target - 24),
                delay_reason=None, **who,
            )  # fmt: skip
            assert (refused["accepted"], refused["code"]) == (False, "NO_APPROVAL_AUTHORITY")
            assert refused["caused"] == []
            converted = to_full(sender, subject, target - 4)
            assert [c["event_type"] for c in converted["caused"]] == [
                "registry.events.MemberConverted"
            ]

            member_id = str(member_ids.for_citizen(subject.citizen_id))
            wanted = {c["version"] for o in sender.outcomes.values() for c in o["caused"]
                      if str(c["aggregate_id"]) == member_id}  # fmt: skip
            records = read_topic(
                settings,
                topics.MEMBER_EVENTS,
                lambda rs: sum(r.key.decode() == member_id for r in rs) >= len(wanted),
            )
            decoder = AvscDecoder()
            trail = [decoder.decode(r.value) for r in records if r.key.decode() == member_id]
            assert [name.rsplit(".", 1)[1] for name, _ in trail] == [
                "MemberApplied",
                "MemberActivistAdmitted",
                "MemberDevelopmentTargetAdmitted",
                "MemberPoliticalReviewRecorded",
                "MemberTrainingRecorded",
                "MemberSponsorsNamed",
                "MemberProbationaryAdmitted",
                "MemberConverted",
            ]
            for record in records:  # the sponsors' ID numbers never reach a public topic
                assert first.citizen_id.encode() not in record.value
                assert subject.citizen_id.encode() not in record.value
            admitted = trail[6][1]
            assert admitted["effective_date"] == ago(target - 4)  # the branch meeting

            wait_until(
                lambda: projections_caught_up(
                    backbone.read_models, caused_by(sender.outcomes.values())
                ),
                what="projections",
            )
            row = queries.member(backbone.read_models, member_id)
            assert (row["stage"], row["organisation_code"]) == ("FULL", BRANCH)
            assert queries.rollup(backbone.read_models, STREET)["by_stage"]["FULL"] == 3
        finally:
            client.close()
        assert backbone.errors == []
