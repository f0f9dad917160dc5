"""Property tests: random command sequences never reach a forbidden state, a refused command
changes nothing, and replaying the collected events rebuilds the same aggregate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

from domain_builders import (
    BRANCH,
    BY,
    DISTRICT_COMMITTEE,
    GENERAL_BRANCH,
    OTHER_BRANCH,
    STREET_COMMITTEE,
    FakeSponsor,
    applicant,
    replay,
    state,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from organisation_builders import city, district, org, street

from domain.dates import add_months, add_years
from domain.errors import DomainError
from domain.member import Member
from domain.organisation import Organisation
from domain.policy import DEFAULT_POLICY as P
from domain.vocabulary import (
    Circumstance,
    OrganisationKind,
    OrganisationLevel,
    Stage,
    Standing,
    SuspensionReason,
)

RECORDED = date(2045, 1, 1)
APPROVERS = [STREET_COMMITTEE, DISTRICT_COMMITTEE, GENERAL_BRANCH]
ORGS = [BRANCH, OTHER_BRANCH, UUID("00000000-0000-4000-8000-00000000b003")]
COMMUNITIES = [UUID("00000000-0000-4000-8000-00000000d001"), uuid4()]
ELIGIBLE = [FakeSponsor(uuid4()) for _ in range(3)]

Command = Callable[[Member, st.DataObject, date], None]


def _letter(m: Member, data: st.DataObject) -> str:
    current = m.transfer.letter_number if m.transfer else None
    slip = m.awaiting_return_slip.letter_number if m.awaiting_return_slip else None
    options = [x for x in (current, slip) if x] + ["L-unknown"]
    return data.draw(st.sampled_from(options))


def _when(data: st.DataObject, day: date) -> dict[str, Any]:
    return {"effective_date": day, "recorded_on": RECORDED, "by": BY}


def _decision(data: st.DataObject, day: date) -> dict[str, Any]:
    return {
        "decided_by": BRANCH,
        "approver": data.draw(st.sampled_from(APPROVERS)),
        "approved_on": day + timedelta(days=data.draw(st.integers(-5, 200))),
    } | _when(data, day)


COMMANDS: dict[str, Command] = {
    "activist": lambda m, d, day: m.admit_as_activist(decided_by=BRANCH, **_when(d, day)),
    "target": lambda m, d, day: m.admit_as_development_target(decided_by=BRANCH, **_when(d, day)),
    "review": lambda m, d, day: m.record_political_review(
        passed=d.draw(st.booleans()), reviewed_by=BRANCH, **_when(d, day)
    ),
    "training": lambda m, d, day: m.record_training(
        days=d.draw(st.integers(0, 4)), hours=d.draw(st.integers(0, 30)), **_when(d, day)
    ),
    "sponsors": lambda m, d, day: m.name_sponsors(
        sponsors=d.draw(
            st.lists(
                st.sampled_from([*ELIGIBLE, FakeSponsor(uuid4(), may_sponsor=False)]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        ),
        **_when(d, day),
    ),
    "admit": lambda m, d, day: m.admit_as_probationary(
        delay_reason=d.draw(st.sampled_from([None, "vacancy"])),
        exception_reason=d.draw(st.sampled_from([None, "posted here for good"])),
        **_decision(d, day),
    ),
    "talk": lambda m, d, day: m.record_application_talk(
        held_by=d.draw(st.sampled_from(ORGS)), **_when(d, day)
    ),
    "convert": lambda m, d, day: m.convert(**_decision(d, day)),
    "extend": lambda m, d, day: m.extend_probation(
        months=d.draw(st.integers(4, 14)), **_decision(d, day)
    ),
    "cancel": lambda m, d, day: m.cancel_probation(reason="x", **_decision(d, day)),
    "correction": lambda m, d, day: m.order_correction(
        until=day + timedelta(days=d.draw(st.integers(-1, 400))), decided_by=BRANCH, **_when(d, day)
    ),
    "end_correction": lambda m, d, day: m.end_correction(**_when(d, day)),
    "party_probation": lambda m, d, day: m.impose_party_probation(
        until=day + timedelta(days=d.draw(st.integers(-1, 800))), decided_by=BRANCH, **_when(d, day)
    ),
    "end_party_probation": lambda m, d, day: m.end_party_probation(**_when(d, day)),
    "suspend": lambda m, d, day: m.suspend(
        reason=d.draw(st.sampled_from(list(SuspensionReason))),
        out_of_touch_since=d.draw(
            st.one_of(st.none(), st.integers(0, 400).map(lambda n: day - timedelta(days=n)))
        ),
        decided_by=BRANCH,
        **_when(d, day),
    ),
    "restore": lambda m, d, day: m.restore(decided_by=BRANCH, **_when(d, day)),
    "withdraw": lambda m, d, day: m.withdraw(**_when(d, day)),
    "remove": lambda m, d, day: m.remove(reason="x", decided_by=BRANCH, **_when(d, day)),
    "expel": lambda m, d, day: m.expel(reason="x", **_decision(d, day)),
    "death": lambda m, d, day: m.record_death(**_when(d, day)),
    "reapply": lambda m, d, day: m.reapply(
        name="x",
        ethnicity="Han",
        education="x",
        occupation="x",
        phone="1",
        address="x",
        organisation_id=d.draw(st.sampled_from(ORGS)),
        **_when(d, day),
    ),
    "set": lambda m, d, day: m.set_circumstance(
        circumstance=d.draw(st.sampled_from(list(Circumstance))), **_when(d, day)
    ),
    "clear": lambda m, d, day: m.clear_circumstance(
        circumstance=d.draw(st.sampled_from(list(Circumstance))), **_when(d, day)
    ),
    "register": lambda m, d, day: m.register_with_community(
        community_id=d.draw(st.sampled_from(COMMUNITIES)), **_when(d, day)
    ),
    "end_registration": lambda m, d, day: m.end_community_registration(**_when(d, day)),
    "opinion": lambda m, d, day: m.record_community_opinion(
        community_id=d.draw(st.sampled_from(COMMUNITIES)),
        summary="x",
        favourable=d.draw(st.booleans()),
        **_when(d, day),
    ),
    "feedback": lambda m, d, day: m.record_community_feedback(
        community_id=d.draw(st.sampled_from(COMMUNITIES)),
        to_organisation_id=BRANCH,
        summary="x",
        **_when(d, day),
    ),
    "place": lambda m, d, day: m.place(
        organisation_id=d.draw(st.sampled_from(ORGS)),
        identity_verified=d.draw(st.booleans()),
        **_when(d, day),
    ),
    "end_placement": lambda m, d, day: m.end_placement(**_when(d, day)),
    "start_transfer": lambda m, d, day: m.start_transfer(
        to_organisation_id=d.draw(st.sampled_from(ORGS)),
        letter_number=f"L-{d.draw(st.integers(0, 3))}",
        valid_days=d.draw(st.one_of(st.none(), st.integers(0, 100))),
        **_when(d, day),
    ),
    "renew_transfer": lambda m, d, day: m.renew_transfer(
        letter_number=_letter(m, d),
        valid_days=d.draw(st.integers(1, 92)),
        new_letter_number=d.draw(st.sampled_from([None, "L-renewed"])),
        **_when(d, day),
    ),
    "accept_transfer": lambda m, d, day: m.accept_transfer(
        letter_number=_letter(m, d), **_when(d, day)
    ),
    "refuse_transfer": lambda m, d, day: m.refuse_transfer(
        letter_number=_letter(m, d), reason="x", **_when(d, day)
    ),
    "return_slip": lambda m, d, day: m.record_return_slip(
        letter_number=_letter(m, d), **_when(d, day)
    ),
}


def check_member(m: Member) -> None:
    """The states the rules forbid."""
    assert m.episode == len(m.past_episodes) + 1
    assert m.applied_on <= m.latest_effective_date
    assert all(d <= m.latest_effective_date for d in m.thread_dates.values())
    if m.stage is not Stage.APPLICANT:
        assert m.activist_since is not None and m.activist_since >= m.applied_on
    if m.stage in (Stage.DEVELOPMENT_TARGET, Stage.PROBATIONARY, Stage.FULL):
        assert m.activist_since is not None and m.target_since is not None
        assert m.target_since >= add_years(m.activist_since, P.activist_min_years)
    if m.stage in (Stage.PROBATIONARY, Stage.FULL):
        assert m.admitted_on is not None and m.target_since is not None
        assert m.admitted_on >= m.target_since
        assert m.political_review_passed is True
        assert m.training_days >= P.training_min_days or m.training_hours >= P.training_min_hours
        assert len(set(m.sponsor_ids)) == P.sponsors_required
        assert m.admission_approved_on is not None
        assert m.admitted_on <= m.admission_approved_on
        assert m.admission_approved_on <= add_months(m.admitted_on, P.admission_approval_max_months)
        assert m.probation_ends_on is not None
        base = add_years(m.admitted_on, P.probation_years)
        if m.probation_extended:
            assert add_months(base, 6) <= m.probation_ends_on <= add_months(base, 12)
        else:
            assert m.probation_ends_on == base
    if m.stage is Stage.FULL:
        assert m.full_since == m.probation_ends_on
    else:
        assert m.full_since is None
        assert m.standing is Standing.NORMAL
    if m.standing in (Standing.CORRECTION, Standing.PARTY_PROBATION):
        assert m.standing_since is not None and m.standing_until is not None
        months = 12 if m.standing is Standing.CORRECTION else 24
        assert m.standing_since < m.standing_until <= add_months(m.standing_since, months)
    if m.has_voting_rights:
        assert m.stage is Stage.FULL and m.standing not in (
            Standing.PARTY_PROBATION,
            Standing.SUSPENDED,
        )
    if not m.episode_open:
        assert m.exited_on is not None and m.exited_on >= m.applied_on
        assert m.transfer is None and m.placement_organisation_id is None
        assert m.community_id is None and m.awaiting_return_slip is None
    if m.placement_organisation_id is not None:
        assert Circumstance.MOBILE in m.circumstances and m.is_member
    if m.community_id is not None:
        assert Circumstance.IN_SERVICE in m.circumstances and m.stage is not Stage.APPLICANT
    if m.activist_since is not None:
        assert all(m.applied_on <= t <= m.activist_since for t in m.application_talks)

    if m.transfer is not None:
        assert m.transfer.from_organisation_id == m.organisation_id
        assert m.transfer.to_organisation_id != m.transfer.from_organisation_id


def run(aggregate: Any, command: Callable[[], None]) -> bool:
    """Runs a command; a refusal must leave the aggregate exactly as it was."""
    before = state(aggregate)
    pending = len(aggregate.pending_events)
    try:
        command()
    except DomainError:
        assert state(aggregate) == before
        assert len(aggregate.pending_events) == pending
        return False
    return True


EXITS = {"withdraw", "remove", "expel", "death", "cancel"}
# Exits end the episode, so they are drawn less often to let sequences go further.
WEIGHTED = sorted(n for n in COMMANDS for _ in range(1 if n in EXITS else 4))
STEP = st.one_of(st.integers(-30, 60), st.integers(-90, 800))


def drive(m: Member, data: st.DataObject, steps: int) -> list[Any]:
    """Runs random commands, mostly forward in time, sometimes late; checks every state."""
    events = list(m.collect_events())
    day = m.latest_effective_date
    for _ in range(steps):
        name = data.draw(st.sampled_from(WEIGHTED))
        when = day + timedelta(days=data.draw(STEP))
        if run(m, lambda name=name, when=when: COMMANDS[name](m, data, when)):
            event(f"accepted {name}")  # --hypothesis-show-statistics shows what was reached
            day = max(day, when)
        check_member(m)
        events += m.collect_events()
    return events


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_random_member_commands_keep_the_rules_and_replay(data: st.DataObject) -> None:
    m = applicant(applied=date(2015, 1, 1))
    events = drive(m, data, data.draw(st.integers(1, 80)))
    rebuilt = replay(events)
    assert state(rebuilt) == state(m)
    assert rebuilt.version == len(events)


def _guided_member(data: st.DataObject) -> Member:
    """A member driven along the happy path to a drawn stage, so later stages get exercised."""
    stop = data.draw(st.sampled_from([Stage.DEVELOPMENT_TARGET, Stage.PROBATIONARY, Stage.FULL]))
    m = applicant(applied=date(2015, 1, 1))
    when = {"recorded_on": RECORDED, "by": BY}
    m.admit_as_activist(decided_by=BRANCH, effective_date=date(2015, 2, 1), **when)
    m.admit_as_development_target(decided_by=BRANCH, effective_date=date(2016, 2, 1), **when)
    if stop is Stage.DEVELOPMENT_TARGET:
        return m
    m.record_political_review(
        passed=True, reviewed_by=BRANCH, effective_date=date(2016, 3, 1), **when
    )
    m.record_training(days=3, hours=0, effective_date=date(2016, 3, 1), **when)
    m.name_sponsors(sponsors=ELIGIBLE[:2], effective_date=date(2016, 3, 1), **when)
    m.admit_as_probationary(
        decided_by=BRANCH,
        approver=STREET_COMMITTEE,
        approved_on=date(2016, 5, 1),
        effective_date=date(2016, 4, 1),
        **when,
    )
    if stop is Stage.FULL:
        m.convert(
            decided_by=BRANCH,
            approver=STREET_COMMITTEE,
            approved_on=date(2017, 4, 1),
            effective_date=date(2017, 4, 1),
            **when,
        )
    return m


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_random_commands_on_members_keep_the_rules_and_replay(data: st.DataObject) -> None:
    m = _guided_member(data)
    events = drive(m, data, data.draw(st.integers(1, 60)))
    assert state(replay(events)) == state(m)


# -- organisations ------------------------------------------------------------------------


def check_organisation(o: Organisation) -> None:
    assert len(o.covered_units) == len(set(o.covered_units)) <= P.joint_branch_max_units
    if o.kind is not OrganisationKind.JOINT_BRANCH:
        assert o.covered_units == []
    if o.merged_into_id is not None:
        assert o.dissolved_on is not None and o.merged_into_id != o.id
    assert o.established_on <= o.latest_effective_date


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_organisation_commands_keep_the_rules_and_replay(data: st.DataObject) -> None:
    c = city()
    streets = [street(district(c)) for _ in range(2)]
    kind = data.draw(st.sampled_from(list(OrganisationKind)))
    o = org(OrganisationLevel.UNIT, streets[0], kind)
    peers = [org(OrganisationLevel.UNIT, streets[1], OrganisationKind.BRANCH), streets[0]]
    events = o.collect_events()
    day = o.established_on

    def pick(options: list[Organisation]) -> Organisation:
        # Aggregates are unhashable, which sampled_from needs.
        return options[data.draw(st.integers(0, len(options) - 1))]

    for _ in range(data.draw(st.integers(1, 30))):
        when = day + timedelta(days=data.draw(st.integers(-30, 300)))
        at: dict[str, Any] = {"effective_date": when, "by": BY, "recorded_on": RECORDED}
        unit = f"u{data.draw(st.integers(0, 7))}"
        commands: dict[str, Callable[[], None]] = {
            "rename": lambda at=at: o.rename(name="n", **at),
            "reparent": lambda at=at: o.reparent(parent=pick(streets), **at),
            "cover": lambda at=at, unit=unit: o.cover_unit(unit_code=unit, **at),
            "release": lambda at=at, unit=unit: o.release_unit(unit_code=unit, **at),
            "merge": lambda at=at: o.merge_into(
                target=pick([*peers, o]),
                member_count=data.draw(st.integers(0, 2)),
                **at,
            ),
            "dissolve": lambda at=at: o.dissolve(
                member_count=data.draw(st.integers(0, 2)),
                child_count=data.draw(st.integers(0, 1)),
                **at,
            ),
        }
        name = data.draw(st.sampled_from(sorted(commands)))
        was_active = o.active
        if run(o, commands[name]):
            assert was_active
            day = max(day, when)
        check_organisation(o)
        events += o.collect_events()
    assert state(replay(events)) == state(o)
