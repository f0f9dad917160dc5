"""Each published event type against the read models, exactly-once, and late arrivals,
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from projections import history, queries
from projections.apply import HANDLERS, NOT_PROJECTED, apply_event
from projections.database import Database
from tests.unit.projection_events import Feed, db_fixture, oid  # noqa: F401

EVENTS = Path(__file__).resolve().parents[2] / "schemas" / "events"


def test_every_published_event_has_a_decision() -> None:
    names = {json.loads(p.read_text())["name"] for p in EVENTS.glob("*.avsc")}
    assert names == set(HANDLERS) | NOT_PROJECTED


def _state(db: Database, member: object) -> dict[str, object]:
    return queries.member(db, str(member))


def test_an_event_applied_twice_changes_nothing_the_second_time(db: Database) -> None:
    feed = Feed(db)
    feed.city()
    member = feed.applicant("甲", "XH-S1-C1")
    name, record, position = feed.records[-1]
    with db.transaction() as cur:
        assert apply_event(cur, name, record, position) is False
    older = feed.event("MemberActivistAdmitted", member, date(2021, 6, 1), decided_by=oid("X"))
    with db.transaction() as cur:
        assert apply_event(cur, "registry.events.MemberActivistAdmitted", older, 9) is True
        # The same version again, and then an older one: both skipped.
        assert apply_event(cur, "registry.events.MemberActivistAdmitted", older, 9) is False
        assert apply_event(cur, name, record, position) is False
    assert len(queries.member_trail(db, str(member))) == 2
    assert queries.rollup(db, "SH")["total"] == 1


def test_stages_standing_and_exits(db: Database) -> None:
    feed = Feed(db)
    feed.city()
    a = feed.full_member("甲", "XH-S1-C1")
    state = _state(db, a)
    assert (state["stage"], state["admitted_on"], state["full_since"]) == (
        "FULL",
        "2023-06-01",
        "2024-06-01",
    )
    feed.apply("MemberCorrectionOrdered", a, date(2025, 1, 1), decided_by=oid("XH-S1-C1"),
               until=date(2025, 6, 1))  # fmt: skip
    assert _state(db, a)["standing"] == "CORRECTION"
    feed.apply("MemberCorrectionEnded", a, date(2025, 3, 1))
    feed.apply("MemberSuspended", a, date(2025, 4, 1), reason="SETTLED_ABROAD",
               out_of_touch_since=None, decided_by=oid("XH-S1-C1"))  # fmt: skip
    assert _state(db, a)["standing"] == "SUSPENDED"
    # Suspension is not an exit: still counted.
    assert queries.rollup(db, "XH")["by_stage"]["FULL"] == 1
    feed.apply("MemberRestored", a, date(2025, 5, 1), decided_by=oid("XH-S1-C1"))
    feed.apply("MemberPartyProbationImposed", a, date(2025, 6, 1), decided_by=oid("XH-S1"),
               until=date(2026, 6, 1))  # fmt: skip
    assert _state(db, a)["standing"] == "PARTY_PROBATION"
    feed.apply("MemberPartyProbationEnded", a, date(2025, 9, 1))
    assert _state(db, a)["standing"] == "NORMAL"

    b = feed.applicant("乙", "XH-S1-C1")
    feed.apply("MemberActivistAdmitted", b, date(2021, 6, 1), decided_by=oid("XH-S1-C1"))
    feed.apply("MemberDevelopmentTargetAdmitted", b, date(2022, 7, 1),
               decided_by=oid("XH-S1-C1"))  # fmt: skip
    for fact, fields in (
        ("MemberPoliticalReviewRecorded", {"passed": True, "reviewed_by": oid("XH-S1")}),
        ("MemberTrainingRecorded", {"days": 3, "hours": 24}),
        ("MemberSponsorsNamed", {"sponsor_ids": [a]}),
    ):
        feed.apply(fact, b, date(2022, 8, 1), **fields)
    feed.probationary(b, "XH-S1-C1", date(2023, 1, 10), "XH-S1")
    feed.apply("MemberProbationExtended", b, date(2024, 1, 10), months=6,
               decided_by=oid("XH-S1-C1"), approved_by=oid("XH-S1"),
               approved_on=date(2024, 1, 20), probation_ends_on=date(2024, 7, 10))  # fmt: skip
    assert _state(db, b)["probation_ends_on"] == "2024-07-10"
    feed.apply("MemberProbationCancelled", b, date(2024, 7, 10), reason="r",
               decided_by=oid("XH-S1-C1"), approved_by=oid("XH-S1"),
               approved_on=date(2024, 7, 20))  # fmt: skip
    assert _state(db, b)["status"] == "CANCELLED"

    exits = {
        "MemberWithdrawn": {"reason": None},
        "MemberRemoved": {"reason": "lapsed", "decided_by": oid("XH-S1-C2")},
        "MemberExpelled": {"reason": "x", "decided_by": oid("XH-S1-C2"),
                           "approved_by": oid("XH"), "approved_on": date(2025, 2, 1)},
        "MemberDied": {},
    }  # fmt: skip
    for i, (event, fields) in enumerate(exits.items()):
        m = feed.full_member(f"丙{i}", "XH-S1-C2")
        feed.apply(event, m, date(2025, 1, 15), **fields)
    c2 = queries.roster_page(db, "XH-S1-C2", include_exited=True)["items"]
    assert sorted(r["status"] for r in c2) == ["DIED", "EXPELLED", "REMOVED", "WITHDRAWN"]
    assert queries.roster(db, "XH-S1-C2") == []
    rollup = queries.rollup(db, "SH")
    assert rollup["total"] == 1 and rollup["by_stage"]["FULL"] == 1
    # On a day before the exits they were all counted.
    assert queries.rollup(db, "XH-S1-C2", as_of=date(2025, 1, 14))["by_stage"]["FULL"] == 4


def test_reapplication_opens_a_new_episode(db: Database) -> None:
    feed = Feed(db)
    feed.city()
    a = feed.applicant("甲", "XH-S1-C1")
    feed.apply("MemberWithdrawn", a, date(2022, 1, 1), reason="moved")
    assert queries.roster(db, "XH-S1-C1") == []
    feed.apply("MemberReapplied", a, date(2024, 2, 1), episode=2, name="甲",
               ethnicity="汉族", education="硕士研究生", occupation="医生",
               organisation_id=oid("PD-S1-C1"))  # fmt: skip
    state = _state(db, a)
    assert (state["episode"], state["status"], state["stage"]) == (2, "ACTIVE", "APPLICANT")
    assert [r["member_id"] for r in queries.roster(db, "PD-S1-C1")] == [str(a)]
    assert history.where(db, str(a), date(2023, 1, 1))["status"] == "WITHDRAWN"
    assert history.where(db, str(a), date(2024, 2, 1))["organisation_code"] == "PD-S1-C1"


def test_circumstances_placement_and_community_never_move_the_count(db: Database) -> None:
    feed = Feed(db)
    feed.city()
    a = feed.full_member("甲", "XH-S1-C1")
    feed.apply("MemberCircumstanceSet", a, date(2025, 1, 1), circumstance="MOBILE")
    feed.apply("MemberCircumstanceSet", a, date(2025, 1, 1), circumstance="IN_SERVICE")
    feed.apply("MemberPlaced", a, date(2025, 2, 1), placement_organisation_id=oid("PD-S1-C1"))
    feed.apply("MemberCommunityRegistered", a, date(2025, 2, 1), community_id=oid("PD-S1-C2"))
    feed.apply("MemberCommunityFeedbackSent", a, date(2025, 3, 1), community_id=oid("PD-S1-C2"),
               to_organisation_id=oid("XH-S1-C1"), summary="ok")  # fmt: skip
    state = _state(db, a)
    assert state["circumstances"] == {"IN_SERVICE": "2025-01-01", "MOBILE": "2025-01-01"}
    assert state["placement_organisation_id"] == str(oid("PD-S1-C1"))
    assert state["community_id"] == str(oid("PD-S1-C2"))
    assert queries.rollup(db, "XH")["total"] == 1
    assert queries.rollup(db, "PD")["total"] == 0
    feed.apply("MemberPlacementEnded", a, date(2025, 4, 1),
               placement_organisation_id=oid("PD-S1-C1"))  # fmt: skip
    feed.apply("MemberCommunityRegistrationEnded", a, date(2025, 4, 1),
               community_id=oid("PD-S1-C2"))  # fmt: skip
    feed.apply("MemberCircumstanceCleared", a, date(2025, 5, 1), circumstance="MOBILE")
    state = _state(db, a)
    assert state["circumstances"] == {"IN_SERVICE": "2025-01-01"}
    assert state["placement_organisation_id"] is None and state["community_id"] is None
    on = history.where(db, str(a), date(2025, 3, 1))
    assert on["placement_organisation_id"] == str(oid("PD-S1-C1"))
    assert on["organisation_code"] == "XH-S1-C1"


def test_transfers_count_at_the_sender_until_accepted(db: Database) -> None:
    feed = Feed(db)
    feed.city()
    a = feed.full_member("甲", "XH-S1-C1")
    feed.apply("MemberTransferStarted", a, date(2025, 1, 1), letter_number="L1",
               from_organisation_id=oid("XH-S1-C1"), to_organisation_id=oid("PD-S1-C1"),
               valid_until=date(2025, 1, 31))  # fmt: skip
    assert queries.rollup(db, "XH")["total"] == 1 and queries.rollup(db, "PD")["total"] == 0
    assert queries.roster(db, "XH-S1-C1")[0]["in_transit_to"] == str(oid("PD-S1-C1"))
    feed.apply("MemberTransferRenewed", a, date(2025, 2, 1), letter_number="L1",
               new_letter_number="L2", valid_until=date(2025, 3, 1))  # fmt: skip
    assert _state(db, a)["transfer_letter"] == "L2"
    feed.apply("MemberTransferRefused", a, date(2025, 2, 10), letter_number="L2",
               from_organisation_id=oid("XH-S1-C1"), to_organisation_id=oid("PD-S1-C1"),
               reason="no")  # fmt: skip
    assert _state(db, a)["in_transit_to"] is None
    feed.apply("MemberTransferStarted", a, date(2025, 3, 1), letter_number="L3",
               from_organisation_id=oid("XH-S1-C1"), to_organisation_id=oid("PD-S1-C1"),
               valid_until=date(2025, 3, 31))  # fmt: skip
    feed.apply("MemberTransferAccepted", a, date(2025, 3, 10), letter_number="L3",
               from_organisation_id=oid("XH-S1-C1"),
               to_organisation_id=oid("PD-S1-C1"))  # fmt: skip
    feed.apply("MemberReturnSlipRecorded", a, date(2025, 3, 20), letter_number="L3",
               from_organisation_id=oid("XH-S1-C1"), to_organisation_id=oid("PD-S1-C1"),
               late=False)  # fmt: skip
    assert queries.rollup(db, "XH")["total"] == 0 and queries.rollup(db, "PD")["total"] == 1
    assert history.where(db, str(a), date(2025, 3, 9))["organisation_code"] == "XH-S1-C1"
    assert history.where(db, str(a), date(2025, 3, 9))["in_transit_to"] == str(oid("PD-S1-C1"))
    assert history.where(db, str(a), date(2025, 3, 10))["organisation_code"] == "PD-S1-C1"


def test_organisations_rename_reparent_cover_merge_dissolve(db: Database) -> None:
    feed = Feed(db)
    feed.city()
    feed.full_member("甲", "XH-S1-C1")
    feed.apply("OrganisationRenamed", oid("XH-S1-C1"), date(2024, 1, 1), name="新名")
    assert queries.organisation(db, "XH-S1-C1")["name"] == "新名"
    # The street moves to the other district, with its communities and members.
    feed.apply("OrganisationReparented", oid("XH-S1"), date(2025, 1, 1),
               from_parent_id=oid("XH"), parent_id=oid("PD"))  # fmt: skip
    assert queries.rollup(db, "PD")["total"] == 1 and queries.rollup(db, "XH")["total"] == 0
    # As of a day before the move, the district held it.
    assert len(history.roster_as_of(db, "XH", date(2024, 12, 31), subtree=True)) == 1
    assert history.roster_as_of(db, "PD", date(2024, 12, 31), subtree=True) == []
    assert len(history.roster_as_of(db, "PD", date(2025, 1, 1), subtree=True)) == 1
    feed.apply("OrganisationUnitCovered", oid("XH-S1-C2"), date(2025, 1, 1), unit_code="U-9")
    feed.apply("OrganisationUnitCovered", oid("XH-S1-C2"), date(2025, 1, 1), unit_code="U-8")
    feed.apply("OrganisationUnitReleased", oid("XH-S1-C2"), date(2025, 2, 1), unit_code="U-8")
    rows = db.query("SELECT unit_code FROM rm_organisation_units")
    assert rows == [("U-9",)]
    feed.apply("OrganisationMerged", oid("PD-S1-C2"), date(2025, 3, 1),
               into_organisation_id=oid("PD-S1-C1"))  # fmt: skip
    feed.apply("OrganisationDissolved", oid("PD-S1-U1"), date(2025, 3, 1))
    merged = queries.organisation(db, "PD-S1-C2")
    assert (merged["status"], merged["merged_into_id"]) == ("MERGED", str(oid("PD-S1-C1")))
    assert queries.organisation(db, "PD-S1-U1")["status"] == "DISSOLVED"


def test_a_late_change_lands_in_its_place_by_effective_date(db: Database) -> None:
    feed = Feed(db)
    feed.city()
    a = feed.applicant("甲", "XH-S1-C1", day=date(2021, 3, 1))
    feed.apply("MemberActivistAdmitted", a, date(2021, 9, 1), decided_by=oid("XH-S1-C1"))
    # Recorded later, effective earlier (another thread of the member: a placement).
    feed.apply("MemberPlaced", a, date(2021, 5, 1), placement_organisation_id=oid("PD-S1-C1"))
    spans = history.timeline(db, str(a))
    assert [(s["valid_from"], s["stage"], s["placement_organisation_id"]) for s in spans] == [
        ("2021-03-01", "APPLICANT", None),
        ("2021-05-01", "APPLICANT", str(oid("PD-S1-C1"))),
        ("2021-09-01", "ACTIVIST", str(oid("PD-S1-C1"))),
    ]
    assert history.where(db, str(a), date(2021, 6, 1))["stage"] == "APPLICANT"
    assert history.where(db, str(a), date(2021, 2, 1))["known"] is False
    roster = history.roster_as_of(db, "XH-S1-C1", date(2021, 4, 1))
    assert [r["member_id"] for r in roster] == [str(a)]
    # The audit trail keeps recorded order; history keeps effective order.
    assert [t["event_type"] for t in queries.member_trail(db, str(a))] == [
        "MemberApplied",
        "MemberActivistAdmitted",
        "MemberPlaced",
    ]


def test_an_event_whose_predecessor_is_missing_waits_for_it(db: Database) -> None:
    # After a broker restart, records sent just before the relay noticed can reach a
    # projector ahead of the re-published history: they must not jump the queue.
    feed = Feed(db)
    feed.city()
    member = feed.applicant("甲", "XH-S1-C1")
    second = feed.event("MemberActivistAdmitted", member, date(2021, 6, 1), decided_by=oid("X"))
    third = feed.event("MemberCircumstanceSet", member, date(2021, 7, 1), circumstance="RETIRED")
    circumstance = "registry.events.MemberCircumstanceSet"
    with db.transaction() as cur:
        assert apply_event(cur, circumstance, third, 11) is False
        assert apply_event(cur, "registry.events.MemberActivistAdmitted", second, 10) is True
        assert apply_event(cur, circumstance, third, 11) is True
    assert [t["version"] for t in queries.member_trail(db, str(member))] == [1, 2, 3]
