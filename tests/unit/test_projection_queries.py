"""Rollups, paging, trails, period statistics, compliance views and reports."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest

from projections import compliance, queries, reports, statistics
from projections.database import Database
from tests.unit.projection_events import Feed, db_fixture, oid  # noqa: F401


def _city_with_members(db: Database) -> Feed:
    feed = Feed(db)
    feed.city()
    feed.full_member("甲", "XH-S1-C1", sex="FEMALE", birth=date(1960, 1, 1))
    feed.full_member("乙", "XH-S1-C1", admitted=date(2025, 3, 1))  # probationary until 2026
    feed.full_member("丙", "XH-S1-C2")
    feed.applicant("丁", "XH-S1-C2")
    feed.full_member("戊", "PD-S1-C1", approver="PD-S1")
    return feed


def test_rollup_breakdowns_and_age_bands(db: Database) -> None:
    _city_with_members(db)
    r = queries.rollup(db, "XH", as_of=date(2025, 12, 31))
    assert r["by_stage"] == {"APPLICANT": 1, "ACTIVIST": 0, "DEVELOPMENT_TARGET": 0,
                             "PROBATIONARY": 1, "FULL": 2}  # fmt: skip
    assert r["total"] == 4 and r["party_members"] == 3
    assert r["by_sex"] == {"FEMALE": 1, "MALE": 2}
    assert r["by_age_band"] == {"31-35": 2, "61-70": 1}
    assert r["by_year_joined"] == {"2023": 2, "2025": 1}
    assert r["by_ethnicity"] == {"汉族": 3}
    # As of a day before 乙's admission, 乙 was a development target.
    earlier = queries.rollup(db, "XH", as_of=date(2024, 12, 31))["by_stage"]
    assert earlier["DEVELOPMENT_TARGET"] == 1 and earlier["PROBATIONARY"] == 0
    assert queries.rollup(db, "SH")["total"] == 5


def test_roster_and_trail_pages(db: Database) -> None:
    feed = _city_with_members(db)
    seen, after = [], None
    while True:
        page = queries.roster_page(db, "XH-S1-C1", limit=1, after=after)
        seen += [m["name"] for m in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == sorted(["甲", "乙"])
    member = str(feed.records[-1][1]["aggregate_id"])
    trail, after = [], None
    while True:
        page = queries.trail_page(db, member, limit=2, after=after)
        trail += page["items"]
        if (after := page["next"]) is None:
            break
    assert [t["version"] for t in trail] == [1, 2, 3, 4, 5]
    assert all(t["source_system"] == "unit-system" and t["request_id"] for t in trail)
    assert [t["store_position"] for t in trail] == sorted(t["store_position"] for t in trail)
    with pytest.raises(queries.BadCursor, match="is not an event of"):
        queries.trail_page(db, member, after=f"{oid('PD-S1-C1')}:1")
    for version in ("²", "١", "99999999999999999999", "-1", ""):
        with pytest.raises(queries.BadCursor, match="unknown page cursor"):
            queries.trail_page(db, member, after=f"{member}:{version}")
    org_trail = queries.organisation_trail_page(db, "PD-S1-C1", limit=100)["items"]
    assert org_trail[0]["event_type"] == "OrganisationEstablished"
    assert {t["aggregate_id"] for t in org_trail} == {str(oid("PD-S1-C1")), member}
    with pytest.raises(queries.UnknownOrganisation, match="NOPE"):
        queries.roster_page(db, "NOPE")


def test_period_statistics_count_across_the_boundary_only(db: Database) -> None:
    feed = _city_with_members(db)
    mover = feed.full_member("己", "XH-S1-C1")
    for to, day in (("XH-S1-C2", date(2025, 2, 1)), ("PD-S1-C1", date(2025, 3, 1))):
        current = "XH-S1-C1" if to == "XH-S1-C2" else "XH-S1-C2"
        common = {"letter_number": f"L{to}", "from_organisation_id": oid(current),
                  "to_organisation_id": oid(to)}  # fmt: skip
        feed.apply("MemberTransferStarted", mover, day, valid_until=day, **common)
        feed.apply("MemberTransferAccepted", mover, day, **common)
    gone = feed.full_member("庚", "XH-S1-C2")
    feed.apply("MemberExpelled", gone, date(2025, 5, 1), reason="x", decided_by=oid("XH-S1-C2"),
               approved_by=oid("XH"), approved_on=date(2025, 5, 2))  # fmt: skip
    quitter = feed.applicant("辛", "XH-S1-C1")
    feed.apply("MemberWithdrawn", quitter, date(2025, 6, 1), reason=None)
    s = statistics.statistics(db, "XH", date(2025, 1, 1), date(2025, 12, 31))
    assert s["admissions"] == 1  # 乙, approved by XH-S1 on 2025-03-01
    assert s["conversions"] == 0
    assert s["exits"]["EXPELLED"] == 1 and s["exits"]["total"] == 1
    assert s["applications_withdrawn"] == 1
    # The move inside the district is neither in nor out; the move to PD is out.
    assert (s["transfers_in"], s["transfers_out"]) == (0, 1)
    pd = statistics.statistics(db, "PD", date(2025, 1, 1), date(2025, 12, 31))
    assert (pd["transfers_in"], pd["transfers_out"]) == (1, 0)
    street = statistics.statistics(db, "XH-S1-C2", date(2025, 1, 1), date(2025, 12, 31))
    assert (street["transfers_in"], street["transfers_out"]) == (1, 1)
    assert s["organisations"] == {"COMMITTEE": 2, "GENERAL_BRANCH": 0, "BRANCH": 3,
                                  "JOINT_BRANCH": 0, "TEMPORARY_BRANCH": 0}  # fmt: skip
    with pytest.raises(statistics.BadPeriod):
        statistics.statistics(db, "XH", date(2025, 2, 1), date(2025, 1, 1))


def test_compliance_views(db: Database) -> None:
    feed = Feed(db)
    feed.city()
    feed.establish("XH-S1-J1", "UNIT", "XH-S1", "JOINT_BRANCH")
    feed.apply("OrganisationUnitCovered", oid("XH-S1-J1"), date(2024, 1, 1), unit_code="REG-1")
    feed.establish("XH-S1-J2", "UNIT", "XH-S1", "JOINT_BRANCH")
    for unit in ("REG-2", "REG-3"):
        feed.apply("OrganisationUnitCovered", oid("XH-S1-J2"), date(2024, 1, 1), unit_code=unit)
    for i in range(3):
        feed.full_member(f"甲{i}", "XH-S1-J1")
        feed.full_member(f"乙{i}", "XH-S1-J2")
    late = feed.applicant("丙", "XH-S1-C1")
    feed.apply("MemberActivistAdmitted", late, date(2021, 6, 1), decided_by=oid("XH-S1-C1"))
    feed.apply("MemberDevelopmentTargetAdmitted", late, date(2022, 7, 1),
               decided_by=oid("XH-S1-C1"))  # fmt: skip
    feed.probationary(late, "XH-S1-C1", date(2024, 1, 1), "XH-S1")
    mobile = feed.full_member("丁", "XH-S1-C1")
    feed.apply("MemberCircumstanceSet", mobile, date(2025, 1, 1), circumstance="MOBILE")
    feed.apply("MemberTransferStarted", mobile, date(2025, 2, 1), letter_number="L9",
               from_organisation_id=oid("XH-S1-C1"), to_organisation_id=oid("PD-S1-C1"),
               valid_until=date(2025, 3, 1))  # fmt: skip
    c = compliance.compliance(db, "XH", on=date(2025, 6, 1))
    assert c["units_needing_organisation"] == [
        {"unit_code": "REG-1", "full_members": 3, "covered_by": "XH-S1-J1"}
    ]
    assert c["joint_branches_to_check"] == [
        {"organisation_code": "XH-S1-J2", "full_members": 3, "units": ["REG-2", "REG-3"]}
    ]
    assert [m["name"] for m in c["probation_past_end_without_decision"]] == ["丙"]
    assert [m["name"] for m in c["mobile_members_not_placed"]] == ["丁"]
    assert [m["letter_number"] for m in c["transfers_past_validity"]] == ["L9"]
    # Once the unit has its own organisation it is no longer listed.
    feed.establish("XH-S1-R1", "UNIT", "XH-S1", registration_number="REG-1")
    assert compliance.compliance(db, "XH", on=date(2025, 6, 1))["units_needing_organisation"] == []
    assert compliance.compliance(db, "PD", on=date(2025, 6, 1))["transfers_past_validity"] == []


def test_reports_as_json_and_csv(db: Database) -> None:
    _city_with_members(db)
    annual = reports.report(db, "XH", 2025)
    assert annual["as_of"] == "2025-12-31" and annual["kind"] == "annual"
    assert annual["period"] == {"from": "2025-01-01", "to": "2025-12-31"}
    assert annual["members"]["by_stage"]["FULL"] == 2
    assert annual["movements"]["admissions"] == 1
    half = reports.report(db, "XH", 2025, half=True)
    assert half["as_of"] == "2025-06-30" and half["kind"] == "half-year"
    assert json.loads(reports.render(annual, "json")) == annual
    rows = list(csv.reader(io.StringIO(reports.render(annual, "csv"))))
    assert rows[0] == list(reports.CSV_HEADER)
    assert all(len(r) == 3 for r in rows)
    figures = {(s, k): v for s, k, v in rows[1:]}
    assert figures[("members.by_stage", "FULL")] == "2"
    assert figures[("movements.exits", "total")] == "0"
    assert figures[("report", "as_of")] == "2025-12-31"
    with pytest.raises(ValueError, match="xml"):
        reports.render(annual, "xml")


def test_a_trail_follows_the_store_order_when_a_writer_clock_went_back(db: Database) -> None:
    """Two ingest hosts may disagree on the time: the event recorded second carries the
    earlier recorded_at. The trail is the store's order, which the versions are."""
    feed = Feed(db)
    feed.city()
    member = feed.applicant("甲", "XH-S1-C1")
    feed.clock -= timedelta(hours=1)
    feed.apply("MemberActivistAdmitted", member, date(2021, 6, 1), decided_by=oid("XH-S1-C1"))
    trail = queries.member_trail(db, str(member))
    assert [t["version"] for t in trail] == [1, 2]
    assert trail[1]["recorded_at"] < trail[0]["recorded_at"]
    page = queries.trail_page(db, str(member), limit=1)
    rest = queries.trail_page(db, str(member), after=page["next"])["items"]
    assert [t["version"] for t in rest] == [2]
