"""Read models and compliance views of the talk with an applicant, the community's opinion,
admissions given despite a recent transfer, and the street's coordination body; on SQLite
and PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta

from domain.policy import Policy
from projections import compliance, queries, reports
from projections.database import Database
from tests.unit.projection_events import Feed, db_fixture, oid  # noqa: F401

APPLIED = date(2025, 1, 1)


def _names(items: list[dict[str, object]]) -> list[object]:
    return [i["name"] for i in items]


def test_applicants_without_a_talk_within_31_days(db: Database) -> None:
    feed = Feed(db)
    feed.city()
    on_time = feed.applicant("甲", "XH-S1-C1", APPLIED)
    late = feed.applicant("乙", "XH-S1-C1", APPLIED)
    never = feed.applicant("丙", "XH-S1-C2", APPLIED)
    moved_on = feed.applicant("丁", "XH-S1-C2", APPLIED)
    feed.applicant("戊", "PD-S1-C1", APPLIED)  # another district
    talk = {"held_by": oid("XH-S1-C1")}
    feed.apply("MemberApplicationTalkHeld", on_time, APPLIED + timedelta(31), late=False, **talk)
    feed.apply("MemberApplicationTalkHeld", late, APPLIED + timedelta(32), late=True, **talk)
    feed.apply(
        "MemberActivistAdmitted", moved_on, APPLIED + timedelta(40), decided_by=talk["held_by"]
    )

    # Day 31 after the application: every talk is still in time.
    assert (
        compliance.compliance(db, "XH", on=APPLIED + timedelta(31))["applicants_without_talk"] == []
    )
    overdue = compliance.compliance(db, "XH", on=APPLIED + timedelta(32))["applicants_without_talk"]
    # Day 32: the talk was due by day 31; 乙's came on day 32, 丙 had none; 丁 is no
    # longer an applicant, 戊 is in another district.
    assert _names(overdue) == ["乙", "丙"]  # by organisation code
    assert overdue[0] | {"member_id": None} == {
        "member_id": None,
        "name": "乙",
        "organisation_code": "XH-S1-C1",
        "applied_on": "2025-01-01",
        "talk_due_by": "2025-02-01",
        "late_talk_on": "2025-02-02",
    }
    assert overdue[1]["member_id"] == str(never) and overdue[1]["late_talk_on"] is None
    # A talk dated after the day judged on is not known on that day.
    feed.apply("MemberApplicationTalkHeld", never, APPLIED + timedelta(40), late=True, **talk)
    branch = compliance.compliance(db, "XH-S1-C2", on=APPLIED + timedelta(39))
    assert [(i["name"], i["late_talk_on"]) for i in branch["applicants_without_talk"]] == [
        ("丙", None)
    ]
    branch = compliance.compliance(db, "XH-S1-C2", on=APPLIED + timedelta(40))
    assert [(i["name"], i["late_talk_on"]) for i in branch["applicants_without_talk"]] == [
        ("丙", "2025-02-10")
    ]
    # The policy sets the deadline.
    strict = compliance.compliance(
        db, "XH", on=APPLIED + timedelta(32), policy=Policy(application_talk_days=30)
    )
    assert set(_names(strict["applicants_without_talk"])) == {"甲", "乙", "丙"}


def _reporting(feed: Feed, name: str, community: str | None, registered: date) -> uuid.UUID:
    """A development target of XH-S1-U1 reporting to `community` from `registered`."""
    member = feed.applicant(name, "XH-S1-U1")
    unit = oid("XH-S1-U1")
    feed.apply("MemberActivistAdmitted", member, date(2021, 6, 1), decided_by=unit)
    feed.apply("MemberDevelopmentTargetAdmitted", member, date(2022, 7, 1), decided_by=unit)
    feed.apply("MemberCircumstanceSet", member, date(2022, 7, 1), circumstance="IN_SERVICE")
    if community:
        feed.apply("MemberCommunityRegistered", member, registered, community_id=oid(community))
    return member


def _opinion(feed: Feed, member: uuid.UUID, community: str, day: date) -> None:
    feed.apply(
        "MemberCommunityOpinionHeard",
        member,
        day,
        community_id=oid(community),
        summary="active in the community",
        favourable=True,
    )


def test_admissions_without_the_communitys_opinion(db: Database) -> None:
    feed = Feed(db)
    feed.city()
    meeting = date(2023, 6, 1)
    heard = _reporting(feed, "甲", "XH-S1-C1", date(2022, 8, 1))
    _opinion(feed, heard, "XH-S1-C1", meeting)  # on the meeting day: in time
    too_late = _reporting(feed, "乙", "XH-S1-C1", date(2022, 8, 1))
    _opinion(feed, too_late, "XH-S1-C1", meeting + timedelta(1))
    wrong_community = _reporting(feed, "丙", "XH-S1-C2", date(2022, 8, 1))
    _opinion(feed, wrong_community, "XH-S1-C1", date(2023, 1, 1))
    not_reporting = _reporting(feed, "丁", None, date(2022, 8, 1))
    registered_later = _reporting(feed, "戊", "XH-S1-C1", meeting + timedelta(10))
    for member in (heard, too_late, wrong_community, not_reporting):
        feed.probationary(member, "XH-S1-U1", meeting, "XH-S1")
    # Registered after the meeting (recorded before it): not reporting on the day.
    feed.probationary(registered_later, "XH-S1-U1", meeting, "XH-S1")

    view = compliance.compliance(db, "XH", on=date(2024, 1, 1))
    missing = view["admissions_without_community_opinion"]
    assert {(m["name"], m["community_code"], m["admitted_on"]) for m in missing} == {
        ("丙", "XH-S1-C2", "2023-06-01"),
        ("乙", "XH-S1-C1", "2023-06-01"),
    }
    assert {m["member_id"] for m in missing} == {str(too_late), str(wrong_community)}
    assert all(m["community_id"] for m in missing)
    # Judged before the meeting: no admission yet.
    early = compliance.compliance(db, "XH", on=meeting - timedelta(1))
    assert early["admissions_without_community_opinion"] == []
    assert (
        compliance.compliance(db, "PD", on=date(2024, 1, 1))["admissions_without_community_opinion"]
        == []
    )


def test_admissions_given_despite_a_recent_transfer_are_listed(db: Database) -> None:
    feed = Feed(db)
    feed.city()
    ordinary = feed.applicant("甲", "XH-S1-C1")
    excepted = feed.applicant("乙", "XH-S1-C1")
    for member in (ordinary, excepted):
        feed.apply("MemberActivistAdmitted", member, date(2021, 6, 1), decided_by=oid("XH-S1-C1"))
        feed.apply("MemberDevelopmentTargetAdmitted", member, date(2022, 7, 1),
                   decided_by=oid("XH-S1-C1"))  # fmt: skip
    feed.probationary(ordinary, "XH-S1-C1", date(2023, 6, 1), "XH-S1")
    feed.apply(
        "MemberProbationaryAdmitted",
        excepted,
        date(2023, 6, 1),
        decided_by=oid("XH-S1-C1"),
        approved_by=oid("XH-S1"),
        approved_on=date(2023, 6, 20),
        delay_reason=None,
        exception_reason="moved here for good",
        sponsor_ids=[],
        probation_ends_on=date(2024, 6, 1),
    )
    view = compliance.compliance(db, "SH", on=date(2023, 7, 1))
    assert view["admissions_with_unit_exception"] == [
        {
            "member_id": str(excepted),
            "name": "乙",
            "organisation_code": "XH-S1-C1",
            "admitted_on": "2023-06-01",
            "reason": "moved here for good",
        }
    ]
    assert (
        compliance.compliance(db, "SH", on=date(2023, 5, 31))["admissions_with_unit_exception"]
        == []
    )


def test_the_streets_coordination_body_now_and_as_of(db: Database) -> None:
    feed = Feed(db)
    feed.city()
    street = oid("XH-S1")
    feed.apply("OrganisationCoordinationUnitJoined", street, date(2024, 1, 1),
               unit_organisation_id=oid("XH-S1-U1"))  # fmt: skip
    feed.apply("OrganisationCoordinationUnitJoined", street, date(2024, 3, 1),
               unit_organisation_id=oid("PD-S1-U1"))  # fmt: skip
    feed.apply("OrganisationCoordinationUnitLeft", street, date(2024, 6, 1),
               unit_organisation_id=oid("XH-S1-U1"))  # fmt: skip
    feed.apply("OrganisationCoordinationUnitJoined", street, date(2024, 9, 1),
               unit_organisation_id=oid("XH-S1-U1"))  # fmt: skip

    def codes(on: date | None) -> list[tuple[object, object, object]]:
        body = queries.coordination_body(db, "XH-S1", on)
        return [(u["code"], u["joined_on"], u["left_on"]) for u in body["units"]]

    assert codes(None) == [("PD-S1-U1", "2024-03-01", None), ("XH-S1-U1", "2024-09-01", None)]
    assert codes(date(2023, 12, 31)) == []
    assert codes(date(2024, 1, 1)) == [("XH-S1-U1", "2024-01-01", "2024-06-01")]
    assert codes(date(2024, 5, 31)) == [
        ("PD-S1-U1", "2024-03-01", None),
        ("XH-S1-U1", "2024-01-01", "2024-06-01"),
    ]
    assert codes(date(2024, 6, 1)) == [("PD-S1-U1", "2024-03-01", None)]
    body = queries.coordination_body(db, "XH-S1")
    assert (body["organisation"], body["level"], body["on"]) == ("XH-S1", "STREET", None)
    assert body["units"][0]["status"] == "ACTIVE" and body["units"][0]["name"] == "org PD-S1-U1"
    assert queries.coordination_body(db, "PD-S1")["units"] == []


def test_the_report_counts_what_each_compliance_view_lists(db: Database) -> None:
    feed = Feed(db)
    feed.city()
    feed.applicant("甲", "XH-S1-C1", APPLIED)
    half = reports.report(db, "XH", 2025, half=True)
    assert half["compliance"]["applicants_without_talk"] == 1
    assert half["compliance"]["admissions_without_community_opinion"] == 0
    assert set(half["compliance"]) == {
        k
        for k, v in compliance.compliance(db, "XH", date(2025, 6, 30)).items()
        if isinstance(v, list)
    }
    rows = list(csv.reader(io.StringIO(reports.render(half, "csv"))))
    assert ["compliance", "applicants_without_talk", "1"] in rows
    lenient = reports.report(db, "XH", 2025, half=True, policy=Policy(application_talk_days=200))
    assert lenient["compliance"]["applicants_without_talk"] == 0
