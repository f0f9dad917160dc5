"""The service layer: encoded requests through `handle()` into a real SQLite event store,
for every request kind, with the approvals' authority and the counts behind merge and
dissolve."""

from __future__ import annotations

from datetime import date

from domain.vocabulary import Stage, Standing
from registry import requests as rq
from registry.handlers import HANDLERS, organisation_id
from registry.integrators import register_integrator
from registry.tally import tally_id
from tests.unit.handler_world import (
    C1,
    C2,
    DISTRICT,
    OTHER_STREET,
    STREET,
    World,
    ago,
)


def test_every_request_kind_has_a_handler() -> None:
    assert set(rq.CHANGES.values()) == set(HANDLERS)


def test_applicant_to_full_member_through_requests(world: World, founders: tuple) -> None:
    person = world.full_member(founders)
    member = world.member(person)
    assert member.stage is Stage.FULL
    assert member.admitted_on == ago(420)  # the branch meeting, not the approval
    assert member.admission_approved_on == ago(400)
    assert member.full_since == member.probation_ends_on  # standing runs from probation's end
    assert member.sponsor_ids == [world.member(f).id for f in founders]
    assert world.counts(C1) == {"HOLDS": 3}


def test_the_outcome_names_the_domain_events_not_the_tally(world: World) -> None:
    person = world.person()
    outcome = world.apply(person, C1, 10)
    assert [c[2] for c in outcome.caused] == ["Member.Applied"]
    assert world.counts(C1) == {"HOLDS": 1}


def test_sponsors_must_be_known_and_eligible(world: World, founders: tuple) -> None:
    person = world.person()
    target = world.to_target(person, C1, 800)
    stranger = world.person()
    refused = world.refused(
        "UNKNOWN_MEMBER",
        C1,
        "NameSponsors",
        target - 3,
        person=person,
        sponsor_citizen_ids=[founders[0].citizen_id, stranger.citizen_id],
    )
    assert stranger.citizen_id not in str(refused.values)  # masked in the outcome
    applicant = world.person()
    world.apply(applicant, C1, 900)
    world.refused(
        "SPONSOR_NOT_ELIGIBLE",
        C1,
        "NameSponsors",
        target - 3,
        person=person,
        sponsor_citizen_ids=[founders[0].citizen_id, applicant.citizen_id],
    )
    world.refused(
        "SPONSOR_COUNT",
        C1,
        "NameSponsors",
        target - 3,
        person=person,
        sponsor_citizen_ids=[founders[0].citizen_id],
    )


# -- approvals: the acting organisation is the approver ------------------------------


def _ready_target(world: World, founders: tuple) -> tuple:
    person = world.person()
    target = world.to_target(person, C1, 800)
    world.ok(
        C1,
        "NameSponsors",
        target - 3,
        person=person,
        sponsor_citizen_ids=[f.citizen_id for f in founders],
    )
    return person, target - 4


def test_admission_needs_a_committee_with_authority(world: World, founders: tuple) -> None:
    person, meeting = _ready_target(world, founders)
    approved = ago(meeting - 20)
    # The branch itself is no committee.
    world.refused(
        "NO_APPROVAL_AUTHORITY",
        C1,
        "AdmitProbationary",
        meeting,
        person=person,
        approved_on=approved,
    )
    # Another street's committee stands over neither the branch nor the member.
    world.refused(
        "NOT_AUTHORISED",
        OTHER_STREET,
        "AdmitProbationary",
        meeting,
        person=person,
        approved_on=approved,
    )
    # A committee outside the integrator's scope.
    register_integrator(world.store, "branch-system", [C1])
    world.refused(
        "NOT_AUTHORISED",
        STREET,
        "AdmitProbationary",
        meeting,
        person=person,
        approved_on=approved,
        system="branch-system",
    )
    outcome = world.ok(STREET, "AdmitProbationary", meeting, person=person, approved_on=approved)
    [event_id] = outcome.caused
    member = world.member(person)
    admitted = [e for e in world.store.events.get(member.id) if e.originator_version == event_id[1]]
    assert admitted[0].approved_by == organisation_id(STREET)
    assert admitted[0].decided_by == organisation_id(C1)


def test_end_of_probation_decisions_need_authority(world: World, founders: tuple) -> None:
    person, meeting = _ready_target(world, founders)
    world.ok(STREET, "AdmitProbationary", meeting, person=person, approved_on=ago(meeting - 20))
    end = meeting - 367
    for kind, fields in (
        ("ConvertToFull", {}),
        ("ExtendProbation", {"months": 6}),
        ("CancelProbation", {"reason": "did not take part in party life"}),
    ):
        world.refused(
            "NO_APPROVAL_AUTHORITY", C1, kind, end, person=person, approved_on=ago(end), **fields
        )
    world.ok(STREET, "ExtendProbation", end, person=person, approved_on=ago(end - 2), months=6)
    # Probation now ends months from today: no conversion yet.
    world.refused(
        "PROBATION_NOT_ENDED", STREET, "ConvertToFull", end - 3, person=person, approved_on=ago(0)
    )
    world.ok(
        STREET, "CancelProbation", end - 4, person=person, approved_on=ago(end - 5), reason="r"
    )
    assert world.member(person).exit_kind is not None
    assert world.counts(C1) == {"HOLDS": 2}


def test_expulsion_is_approved_by_a_district_committee(world: World, founders: tuple) -> None:
    member = founders[0]
    world.refused(
        "NO_APPROVAL_AUTHORITY",
        STREET,
        "ExpelMember",
        30,
        person=member,
        approved_on=ago(20),
        reason="grave breach of discipline",
    )
    world.ok(
        DISTRICT,
        "ExpelMember",
        30,
        person=member,
        approved_on=ago(20),
        reason="grave breach of discipline",
    )
    assert world.member(member).exit_kind.value == "EXPELLED"


# -- standing, exits, a new episode ----------------------------------------------------


def test_standing_changes_in_order(world: World, founders: tuple) -> None:
    person = founders[0]  # full since about 955 days ago
    world.ok(C1, "OrderCorrection", 800, person=person, ends_on=ago(700))
    assert world.member(person).standing is Standing.CORRECTION
    world.ok(C1, "EndCorrection", 700, person=person)
    world.refused(
        "PARTY_PROBATION_TOO_LONG", C1, "ImposePartyProbation", 690, person=person, ends_on=ago(-60)
    )
    world.ok(C1, "ImposePartyProbation", 690, person=person, ends_on=ago(400))
    assert not world.member(person).has_voting_rights
    world.refused("PARTY_PROBATION_NOT_ENDED", C1, "EndPartyProbation", 500, person=person)
    world.ok(C1, "EndPartyProbation", 390, person=person)
    world.refused(
        "LOST_CONTACT_TOO_SHORT",
        C1,
        "SuspendMembership",
        300,
        person=person,
        reason="LOST_CONTACT",
        out_of_touch_since=ago(380),
    )
    # Six months on from the calendar's last day there is no date: refused, where it
    # once raised a ValueError that failed the whole batch, every time it was read.
    world.refused("LOST_CONTACT_TOO_SHORT", C1, "SuspendMembership", 180, person=person,
                  reason="LOST_CONTACT", out_of_touch_since=date(9999, 12, 31))  # fmt: skip
    world.ok(
        C1,
        "SuspendMembership",
        180,
        person=person,
        reason="LOST_CONTACT",
        out_of_touch_since=ago(380),
    )
    world.refused("SUSPENSION_TOO_SHORT", C1, "RemoveMember", 170, person=person, reason="gone")
    world.ok(C1, "RestoreMembership", 100, person=person)
    assert world.member(person).standing is Standing.NORMAL
    world.refused("NOT_SUSPENDED", C1, "RestoreMembership", 90, person=person)


def test_exit_closes_the_episode_and_a_new_application_opens_another(
    world: World, founders: tuple
) -> None:
    person = founders[0]
    world.refused(
        "ALREADY_A_MEMBER", C2, "ApplyForMembership", 50, **_application(world, person, C2)
    )
    world.ok(C1, "WithdrawMembership", 60, person=person, reason=None)
    assert world.counts(C1) == {"HOLDS": 1}
    world.refused(
        "EPISODE_CLOSED", C1, "SetCircumstance", 55, person=person, circumstance="RETIRED"
    )
    world.ok(C2, "ApplyForMembership", 50, **_application(world, person, C2))
    member = world.member(person)
    assert (member.episode, member.stage, member.organisation_id) == (
        2,
        Stage.APPLICANT,
        organisation_id(C2),
    )
    assert world.counts(C1) == {"HOLDS": 1} and world.counts(C2) == {"HOLDS": 1}
    other = founders[1]
    world.ok(C1, "RemoveMember", 40, person=other, reason="six months without party life")
    dead = world.person()
    world.apply(dead, C1, 30)
    world.ok(C1, "RecordDeath", 20, person=dead)
    assert world.counts(C1) == {}


def _application(world: World, person, organisation: str) -> dict:
    return {
        "person": person,
        "name": person.name,
        "ethnicity": person.ethnicity,
        "education": person.education,
        "occupation": person.occupation,
        "phone": person.phone,
        "address": person.address,
        "organisation_code": organisation,
    }


# -- circumstances, community reporting, placement -------------------------------------


def test_placement_and_community_reporting(world: World, founders: tuple) -> None:
    person = founders[0]
    world.refused(
        "CIRCUMSTANCE_REQUIRED",
        C2,
        "PlaceMobileMember",
        40,
        person=person,
        organisation_code=C2,
        identity_verified=True,
    )
    world.ok(C1, "SetCircumstance", 50, person=person, circumstance="MOBILE")
    world.refused(
        "IDENTITY_NOT_VERIFIED",
        C2,
        "PlaceMobileMember",
        40,
        person=person,
        organisation_code=C2,
        identity_verified=False,
    )
    # The host records the placement; the formal organisation stays.
    world.ok(
        C2,
        "PlaceMobileMember",
        40,
        person=person,
        organisation_code=C2,
        identity_verified=True,
        card_number="LD-1",
    )
    assert world.member(person).organisation_id == organisation_id(C1)
    assert world.counts(C2) == {"PLACED": 1}
    world.refused(
        "CIRCUMSTANCE_IN_USE", C1, "ClearCircumstance", 35, person=person, circumstance="MOBILE"
    )
    world.ok(C2, "EndPlacement", 30, person=person)
    world.ok(C1, "ClearCircumstance", 30, person=person, circumstance="MOBILE")
    assert world.counts(C2) == {}

    other = founders[1]
    world.ok(C1, "SetCircumstance", 50, person=other, circumstance="IN_SERVICE")
    world.ok(C2, "RegisterWithCommunity", 45, person=other, community_code=C2)
    world.ok(
        C2,
        "RecordCommunityFeedback",
        20,
        person=other,
        community_code=C2,
        summary="Led the neighbourhood clean-up.",
    )
    assert world.counts(C2) == {"REPORTING": 1}
    world.ok(C1, "EndCommunityRegistration", 10, person=other)
    world.refused(
        "NOT_REGISTERED_WITH_COMMUNITY",
        C2,
        "RecordCommunityFeedback",
        5,
        person=other,
        community_code=C2,
        summary="x",
    )
    world.refused(
        "INVALID_REQUEST", C1, "SetCircumstance", 5, person=other, circumstance="ON_HOLIDAY"
    )


# -- transfers ----------------------------------------------------------------------


def test_transfer_renewal_and_return_slip(world: World) -> None:
    person = world.person()
    world.apply(person, C1, 200)
    world.ok(
        C1,
        "StartTransfer",
        100,
        person=person,
        to_organisation_code=C2,
        letter_number="L-1",
        valid_days=10,
    )
    assert world.counts(C1) == {"HOLDS": 1} and world.counts(C2) == {"INCOMING": 1}
    world.refused("TRANSFER_EXPIRED", C2, "AcceptTransfer", 50, person=person, letter_number="L-1")
    world.refused(
        "NOT_AUTHORISED",
        C2,
        "RenewTransfer",
        60,
        person=person,
        letter_number="L-1",
        valid_days=None,
        new_letter_number=None,
    )
    world.ok(
        C1,
        "RenewTransfer",
        60,
        person=person,
        letter_number="L-1",
        valid_days=30,
        new_letter_number="L-2",
    )
    world.ok(C2, "AcceptTransfer", 50, person=person, letter_number="L-2")
    assert world.counts(C1) == {} and world.counts(C2) == {"HOLDS": 1}
    world.refused(
        "RETURN_SLIP_NOT_EXPECTED", C1, "RecordReturnSlip", 45, person=person, letter_number="L-1"
    )
    world.ok(C1, "RecordReturnSlip", 45, person=person, letter_number="L-2")
    assert world.member(person).awaiting_return_slip is None


# -- organisations --------------------------------------------------------------------


def _establish(world: World, code: str, kind: str = "BRANCH", **fields) -> None:
    world.ok(
        STREET,
        "EstablishOrganisation",
        500,
        code=code,
        name=code,
        kind=kind,
        level="UNIT",
        parent_code=STREET,
        registration_number=None,
        supervising_body=None,
        **fields,
    )


def test_a_joint_branch_covers_and_releases_units(world: World) -> None:
    _establish(world, "JB", "JOINT_BRANCH", covered_units=["U-A", "U-B"])
    assert world.organisation("JB").covered_units == ["U-A", "U-B"]
    world.ok(STREET, "CoverUnit", 100, organisation_code="JB", unit_code="U-C")
    world.refused(
        "UNIT_ALREADY_COVERED", "JB", "CoverUnit", 90, organisation_code="JB", unit_code="U-C"
    )
    world.ok("JB", "ReleaseUnit", 80, organisation_code="JB", unit_code="U-A")
    assert world.organisation("JB").covered_units == ["U-B", "U-C"]
    for unit in ("U-D", "U-E", "U-F"):
        world.ok(STREET, "CoverUnit", 70, organisation_code="JB", unit_code=unit)
    world.refused(
        "JOINT_BRANCH_FULL", STREET, "CoverUnit", 70, organisation_code="JB", unit_code="U-G"
    )
    world.refused(
        "NOT_A_JOINT_BRANCH", STREET, "CoverUnit", 70, organisation_code=C1, unit_code="U-G"
    )
    world.refused(
        "NOT_A_JOINT_BRANCH",
        STREET,
        "EstablishOrganisation",
        60,
        code="B2",
        name="b",
        kind="BRANCH",
        level="UNIT",
        parent_code=STREET,
        covered_units=["U-X"],
    )


def test_merge_and_dissolve_wait_until_everyone_is_elsewhere(world: World) -> None:
    _establish(world, "N1")
    _establish(world, "N2")
    person = world.person()
    world.apply(person, "N1", 300)
    refused = world.refused(
        "ORGANISATION_NOT_EMPTY", STREET, "DissolveOrganisation", 200, organisation_code="N1"
    )
    assert refused.values["member_count"] == "1"
    world.ok(
        "N1",
        "StartTransfer",
        100,
        person=person,
        to_organisation_code="N2",
        letter_number="T-1",
        valid_days=None,
    )
    # In transit the member still counts at the sender, and is awaited by the receiver.
    world.refused(
        "ORGANISATION_NOT_EMPTY",
        STREET,
        "MergeOrganisation",
        90,
        organisation_code="N2",
        into_organisation_code="N1",
    )
    world.ok("N2", "AcceptTransfer", 90, person=person, letter_number="T-1")
    # A merge into an organisation of another level is the domain's refusal.
    world.refused(
        "INVALID_MERGE_TARGET",
        STREET,
        "MergeOrganisation",
        80,
        organisation_code="N1",
        into_organisation_code=STREET,
    )
    world.ok(STREET, "MergeOrganisation", 80, organisation_code="N1", into_organisation_code="N2")
    assert world.organisation("N1").merged_into_id == organisation_id("N2")
    # Closed: it takes no one new.
    newcomer = world.person()
    assert world.apply(newcomer, "N1", 70).code == "ORGANISATION_DISSOLVED"
    # A street with sub-organisations cannot go.
    refused = world.refused(
        "ORGANISATION_NOT_EMPTY",
        DISTRICT,
        "DissolveOrganisation",
        60,
        organisation_code=OTHER_STREET,
    )
    assert refused.values["child_count"] == "3"
    world.ok("N2", "WithdrawMembership", 50, person=person, reason=None)
    world.ok(STREET, "DissolveOrganisation", 40, organisation_code="N2")
    assert world.counts(STREET) == {"CHILD": 3}  # the city's C1, C2, U1


def test_counts_move_within_one_batch(world: World) -> None:
    """Requests handled in one transaction see each other's counts."""
    _establish(world, "N3")
    person = world.person()
    apply = world.request(STREET, "ApplyForMembership", 30, **_application(world, person, "N3"))
    dissolve = world.request(STREET, "DissolveOrganisation", 20, organisation_code="N3")
    withdraw = world.request(STREET, "WithdrawMembership", 10, person=person, reason=None)
    dissolve_again = world.request(STREET, "DissolveOrganisation", 10, organisation_code="N3")
    outcomes = world.handle_all([apply, dissolve, withdraw, dissolve_again])
    assert [(o.accepted, o.code) for o in outcomes] == [
        (True, None),
        (False, "ORGANISATION_NOT_EMPTY"),
        (True, None),
        (True, None),
    ]


def test_a_batch_moves_each_tally_once_by_the_net_of_its_requests(world: World) -> None:
    _establish(world, "N4")
    stays, leaves = world.person(), world.person()
    outcomes = world.handle_all(
        [
            world.request(STREET, "ApplyForMembership", 30, **_application(world, stays, "N4")),
            world.request(STREET, "ApplyForMembership", 30, **_application(world, leaves, "N4")),
            world.request(STREET, "WithdrawMembership", 10, person=leaves, reason=None),
        ]
    )
    assert all(o.accepted for o in outcomes)
    tally = world.store.repository.get(tally_id(organisation_id("N4")))
    events = list(world.store.events.get(tally.id))
    assert [type(e).__name__ for e in events] == ["Opened", "CountedForBatch"]
    subjects = [world.member(stays).id, world.member(leaves).id, world.member(leaves).id]
    assert events[-1].subject_ids == subjects
    assert world.counts("N4") == {"HOLDS": 1}


# -- duplicates and dates ----------------------------------------------------------------


def test_a_repeated_request_id_changes_nothing(world: World) -> None:
    person = world.person()
    first = world.request(
        C1, "ApplyForMembership", 10, request_id="dup-1", **_application(world, person, C1)
    )
    world.handle_all([first])
    world.handle_all([first])
    record = world.outcome(first).record
    assert len(record.received_from) == 2
    assert world.member(person).version == 1
    other = world.request(
        C1, "SetCircumstance", 5, request_id="dup-1", person=person, circumstance="RETIRED"
    )
    world.handle_all([other])
    events = list(world.store.events.get(record.id))
    assert [type(e).__qualname__ for e in events] == [
        "ChangeRequest.Decided",
        "ChangeRequest.Repeated",
        "ChangeRequest.ConflictRefused",
    ]
    assert world.member(person).circumstances == {}


def test_effective_dates_in_the_future_are_refused(world: World) -> None:
    person = world.person()
    world.apply(person, C1, 10)
    world.refused(
        "EFFECTIVE_DATE_IN_FUTURE", C1, "SetCircumstance", -1, person=person, circumstance="RETIRED"
    )
    world.refused(
        "EFFECTIVE_DATE_IN_FUTURE", STREET, "CoverUnit", -1, organisation_code=C1, unit_code="U"
    )


def test_unknown_member_and_organisation(world: World) -> None:
    stranger = world.person()
    world.refused("UNKNOWN_MEMBER", C1, "RecordDeath", 1, person=stranger)
    world.refused(
        "UNKNOWN_ORGANISATION", STREET, "DissolveOrganisation", 1, organisation_code="NOPE"
    )
