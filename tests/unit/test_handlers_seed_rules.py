"""The talk with an applicant, time in the unit before admission, the community's opinion
and the street's coordination body, as encoded requests through `handle()`."""

from __future__ import annotations

from datetime import timedelta

from domain.dates import add_months
from domain.policy import Policy
from domain.vocabulary import Stage
from registry.handlers import organisation_id
from tests.unit.handler_world import C1, C2, STREET, TODAY, World, ago

PD_UNIT = "SH-PD-S1-U1"  # a resident unit under another street's chain
XH_UNIT = "SH-XH-S1-U1"


def _events(world: World, person: object, name: str) -> list:
    member = world.member(person)
    return [e for e in world.store.events.get(member.id) if type(e).__qualname__ == name]


# -- the talk with an applicant -------------------------------------------------------


def test_the_talk_is_recorded_late_after_31_days(world: World) -> None:
    on_time, late = world.person(), world.person()
    for person in (on_time, late):
        assert world.apply(person, C1, 100).accepted
    world.ok(C1, "RecordApplicationTalk", 100 - 31, person=on_time)
    world.ok(C1, "RecordApplicationTalk", 100 - 32, person=late, held_by_code=STREET)
    [first] = _events(world, on_time, "Member.ApplicationTalkHeld")
    [second] = _events(world, late, "Member.ApplicationTalkHeld")
    assert (first.late, first.held_by) == (False, organisation_id(C1))
    assert (second.late, second.held_by) == (True, organisation_id(STREET))


def test_the_talk_is_the_applicants_organisations_to_record(world: World) -> None:
    person = world.person()
    world.apply(person, C1, 100)
    world.refused("NOT_AUTHORISED", C2, "RecordApplicationTalk", 90, person=person)
    world.refused(
        "UNKNOWN_ORGANISATION", C1, "RecordApplicationTalk", 90, person=person, held_by_code="X"
    )
    world.refused("EFFECTIVE_DATE_BEFORE_HISTORY", C1, "RecordApplicationTalk", 101, person=person)
    world.refused("EFFECTIVE_DATE_IN_FUTURE", C1, "RecordApplicationTalk", -1, person=person)
    world.ok(C1, "AdmitActivist", 50, person=person)
    world.refused("TALK_OUTSIDE_APPLICANT_STAGE", C1, "RecordApplicationTalk", 49, person=person)
    world.ok(C1, "RecordApplicationTalk", 50, person=person)


# -- time in the unit before admission ------------------------------------------------


def _moved_target(world: World, founders: tuple, accepted: int) -> object:
    """A ready development target whose file moved from C1 to C2 `accepted` days ago."""
    person = world.person()
    target = world.to_target(person, C1, 800)
    world.ok(
        C1,
        "NameSponsors",
        target - 3,
        person=person,
        sponsor_citizen_ids=[f.citizen_id for f in founders],
    )
    world.ok(
        C1,
        "StartTransfer",
        accepted + 5,
        person=person,
        to_organisation_code=C2,
        letter_number="L-1",
    )
    world.ok(C2, "AcceptTransfer", accepted, person=person, letter_number="L-1")
    return person


def _days_ago(day: object) -> int:
    return (TODAY - day).days  # type: ignore[operator]


def test_admission_within_three_months_of_the_transfer_needs_a_reason(
    world: World, founders: tuple
) -> None:
    person = _moved_target(world, founders, 200)
    earliest = add_months(ago(200), 3)
    short = _days_ago(earliest - timedelta(days=1))
    refusal = world.refused(
        "ADMISSION_TOO_SOON_AFTER_TRANSFER",
        STREET,
        "AdmitProbationary",
        short,
        person=person,
        approved_on=ago(short - 10),
    )
    assert refusal.values["earliest"] == earliest.isoformat()
    world.refused(
        "INVALID_REQUEST",
        STREET,
        "AdmitProbationary",
        short,
        person=person,
        approved_on=ago(short - 10),
        exception_reason="",
    )
    world.ok(
        STREET,
        "AdmitProbationary",
        short,
        person=person,
        approved_on=ago(short - 10),
        exception_reason="transferred for good; the district agreed",
    )
    [admitted] = _events(world, person, "Member.ProbationaryAdmitted")
    assert admitted.exception_reason == "transferred for good; the district agreed"


def test_admission_three_months_after_the_transfer_needs_none(
    world: World, founders: tuple
) -> None:
    person = _moved_target(world, founders, 200)
    meeting = _days_ago(add_months(ago(200), 3))
    world.ok(STREET, "AdmitProbationary", meeting, person=person, approved_on=ago(meeting - 10))
    [admitted] = _events(world, person, "Member.ProbationaryAdmitted")
    assert admitted.exception_reason is None
    assert world.member(person).stage is Stage.PROBATIONARY


# -- the community's opinion ------------------------------------------------------------


def _reporting_target(world: World, founders: tuple) -> object:
    person = world.person()
    target = world.to_target(person, C1, 800)
    world.ok(
        C1,
        "NameSponsors",
        target - 3,
        person=person,
        sponsor_citizen_ids=[f.citizen_id for f in founders],
    )
    world.ok(C1, "SetCircumstance", 300, person=person, circumstance="IN_SERVICE")
    # A development target reports to the community where they live.
    world.ok(C2, "RegisterWithCommunity", 290, person=person, community_code=C2)
    return person


def test_the_community_gives_its_opinion(world: World, founders: tuple) -> None:
    person = _reporting_target(world, founders)
    opinion = {"summary": "Volunteers at the community centre.", "favourable": True}
    world.refused(
        "NOT_AUTHORISED",
        "SH-PD-S1-C1",
        "RecordCommunityOpinion",
        280,
        person=person,
        community_code=C2,
        **opinion,
    )
    world.refused(
        "NOT_REGISTERED_WITH_COMMUNITY",
        C1,
        "RecordCommunityOpinion",
        280,
        person=person,
        community_code=C1,
        **opinion,
    )
    world.ok(C2, "RecordCommunityOpinion", 280, person=person, community_code=C2, **opinion)
    [heard] = _events(world, person, "Member.CommunityOpinionHeard")
    assert (heard.community_id, heard.favourable) == (organisation_id(C2), True)
    assert world.member(person).community_opinions == {organisation_id(C2): ago(280)}


def test_an_admission_without_the_opinion_is_accepted_unless_policy_requires_it(
    world: World, founders: tuple
) -> None:
    person = _reporting_target(world, founders)
    world.ctx.policy = Policy(community_opinion_required=True)
    world.refused(
        "COMMUNITY_OPINION_MISSING", STREET, "AdmitProbationary", 250, person=person,
        approved_on=ago(240),
    )  # fmt: skip
    world.ctx.policy = Policy()
    world.ok(STREET, "AdmitProbationary", 250, person=person, approved_on=ago(240))


# -- the street's coordination body -----------------------------------------------------


def test_unit_organisations_join_and_leave_a_streets_coordination_body(world: World) -> None:
    body = {"street_code": STREET}
    world.refused(
        "NOT_AUTHORISED", C1, "JoinCoordinationBody", 30, unit_organisation_code=PD_UNIT, **body
    )
    world.ok(STREET, "JoinCoordinationBody", 30, unit_organisation_code=PD_UNIT, **body)
    world.ok("SH-XH", "JoinCoordinationBody", 30, unit_organisation_code=XH_UNIT, **body)
    assert world.organisation(STREET).coordination_units == {
        organisation_id(PD_UNIT): ago(30),
        organisation_id(XH_UNIT): ago(30),
    }
    world.refused(
        "UNIT_ALREADY_IN_COORDINATION_BODY",
        STREET,
        "JoinCoordinationBody",
        20,
        unit_organisation_code=PD_UNIT,
        **body,
    )
    world.refused(
        "COORDINATION_BODY_LEVEL", STREET, "JoinCoordinationBody", 20,
        unit_organisation_code=C1, **body,
    )  # fmt: skip
    world.refused(
        "UNKNOWN_ORGANISATION", STREET, "JoinCoordinationBody", 20,
        unit_organisation_code="NOPE", **body,
    )  # fmt: skip
    world.refused(
        "EFFECTIVE_DATE_IN_FUTURE", STREET, "JoinCoordinationBody", -1,
        unit_organisation_code="SH-XH-S2-U1", **body,
    )  # fmt: skip
    world.ok(STREET, "LeaveCoordinationBody", 10, unit_organisation_code=PD_UNIT, **body)
    world.refused(
        "UNIT_NOT_IN_COORDINATION_BODY",
        STREET,
        "LeaveCoordinationBody",
        5,
        unit_organisation_code=PD_UNIT,
        **body,
    )
    assert world.organisation(STREET).coordination_units == {organisation_id(XH_UNIT): ago(30)}
