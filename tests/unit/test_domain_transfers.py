"""Transfers of the organisational relationship (and of applicants' files)."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest
from domain_builders import (
    BRANCH,
    BY,
    TODAY,
    activist,
    applicant,
    full_member,
    refused,
    target,
)
from organisation_builders import city, community, district, street

from domain.member import Member
from domain.policy import Policy
from domain.vocabulary import Stage

D = date(2023, 3, 1)
RECEIVER = uuid4()


def _m(**kw: object) -> dict[str, object]:
    return {"effective_date": D, "recorded_on": TODAY, "by": BY} | kw


def _start(m: Member, to: object = RECEIVER, **kw: object) -> None:
    m.start_transfer(**_m(to_organisation_id=to, letter_number="L-1", valid_days=None) | kw)


def test_the_sender_stays_responsible_while_in_transit() -> None:
    m = full_member()
    _start(m)
    assert m.organisation_id == BRANCH
    assert m.transfer is not None and m.transfer.valid_until == D + timedelta(days=30)
    m.accept_transfer(**_m(letter_number="L-1", effective_date=D + timedelta(days=30)))
    assert (m.organisation_id, m.transfer) == (RECEIVER, None)


def test_one_transfer_at_a_time_and_never_to_the_own_organisation() -> None:
    m = full_member()
    refused(
        "TRANSFER_TO_SAME_ORGANISATION",
        m.start_transfer,
        m,
        **_m(to_organisation_id=BRANCH, letter_number="L-1", valid_days=None),
    )
    _start(m)
    refused(
        "TRANSFER_IN_TRANSIT",
        m.start_transfer,
        m,
        **_m(to_organisation_id=uuid4(), letter_number="L-2", valid_days=None),
    )


@pytest.mark.parametrize(("days", "ok"), [(0, False), (1, True), (92, True), (93, False)])
def test_letter_validity_is_at_most_the_policy_maximum(days: int, ok: bool) -> None:
    m = full_member()
    if ok:
        _start(m, valid_days=days)
        assert m.transfer is not None and m.transfer.valid_until == D + timedelta(days=days)
    else:
        refused(
            "TRANSFER_VALIDITY_TOO_LONG",
            m.start_transfer,
            m,
            **_m(to_organisation_id=RECEIVER, letter_number="L-1", valid_days=days),
        )


def test_letter_limits_are_policy_numbers() -> None:
    m = full_member()
    _start(m, policy=Policy(transfer_letter_default_days=10))
    assert m.transfer is not None and m.transfer.valid_until == D + timedelta(days=10)


def test_an_expired_letter_must_be_renewed_before_acceptance() -> None:
    m = full_member()
    _start(m)
    expired = D + timedelta(days=31)
    refused(
        "TRANSFER_EXPIRED",
        m.accept_transfer,
        m,
        **_m(letter_number="L-1", effective_date=expired),
    )
    m.renew_transfer(**_m(letter_number="L-1", valid_days=30, effective_date=expired))
    assert m.transfer is not None
    assert (m.transfer.valid_until, m.transfer.started_on) == (expired + timedelta(30), D)
    m.accept_transfer(**_m(letter_number="L-1", effective_date=expired + timedelta(days=30)))
    assert m.organisation_id == RECEIVER


def test_renewal_may_issue_a_new_letter_number() -> None:
    m = full_member()
    _start(m)
    m.renew_transfer(
        **_m(letter_number="L-1", valid_days=None, new_letter_number="L-1b", effective_date=D)
    )
    refused("LETTER_MISMATCH", m.accept_transfer, m, **_m(letter_number="L-1"))
    m.accept_transfer(**_m(letter_number="L-1b"))


def test_renewal_needs_a_transfer_in_transit_and_a_valid_length() -> None:
    m = full_member()
    refused(
        "NO_TRANSFER_IN_TRANSIT",
        m.renew_transfer,
        m,
        **_m(letter_number="L-1", valid_days=30),
    )
    _start(m)
    refused(
        "TRANSFER_VALIDITY_TOO_LONG",
        m.renew_transfer,
        m,
        **_m(letter_number="L-1", valid_days=93),
    )
    refused(
        "EFFECTIVE_DATE_BEFORE_HISTORY",
        m.renew_transfer,
        m,
        **_m(letter_number="L-1", valid_days=30, effective_date=D - timedelta(1)),
    )


def test_refusal_keeps_the_relationship_with_the_sender() -> None:
    m = full_member()
    _start(m)
    refused("LETTER_MISMATCH", m.refuse_transfer, m, **_m(letter_number="X", reason="x"))
    m.refuse_transfer(**_m(letter_number="L-1", reason="not resident here"))
    assert (m.organisation_id, m.transfer) == (BRANCH, None)
    refused("NO_TRANSFER_IN_TRANSIT", m.accept_transfer, m, **_m(letter_number="L-1"))


def test_return_slip_recorded_once_for_the_accepted_letter() -> None:
    m = full_member()
    refused("RETURN_SLIP_NOT_EXPECTED", m.record_return_slip, m, **_m(letter_number="L-1"))
    _start(m)
    refused("RETURN_SLIP_NOT_EXPECTED", m.record_return_slip, m, **_m(letter_number="L-1"))
    m.accept_transfer(**_m(letter_number="L-1"))
    refused("RETURN_SLIP_NOT_EXPECTED", m.record_return_slip, m, **_m(letter_number="L-2"))
    m.record_return_slip(**_m(letter_number="L-1", effective_date=D + timedelta(days=31)))
    assert m.collect_events()[-1].late is False  # type: ignore[attr-defined]
    refused("RETURN_SLIP_NOT_EXPECTED", m.record_return_slip, m, **_m(letter_number="L-1"))


def test_a_late_return_slip_is_recorded_as_late() -> None:
    m = full_member()
    _start(m)
    m.accept_transfer(**_m(letter_number="L-1"))
    m.record_return_slip(**_m(letter_number="L-1", effective_date=D + timedelta(days=32)))
    assert m.collect_events()[-1].late is True  # type: ignore[attr-defined]


def test_transfers_across_streets_districts_and_cities() -> None:
    the_city, other_city = city(), city()
    d1 = district(the_city)
    d2 = district(the_city)
    d3 = district(other_city)
    s1, s2, s3, s4 = street(d1), street(d1), street(d2), street(d3)
    c1 = community(s1)
    m = full_member()
    hops = [(c1.id, "street"), (community(s2).id, "street"), (community(s3).id, "district")]
    hops.append((community(s4).id, "city"))
    day = D
    for i, (to, _) in enumerate(hops):
        m.start_transfer(
            to_organisation_id=to,
            letter_number=f"L-{i}",
            valid_days=None,
            effective_date=day,
            recorded_on=TODAY,
            by=BY,
        )
        m.accept_transfer(
            letter_number=f"L-{i}", effective_date=day + timedelta(5), recorded_on=TODAY, by=BY
        )
        assert m.organisation_id == to
        day += timedelta(days=10)
    assert m.stage is Stage.FULL


def test_an_applicants_file_moves_the_same_way() -> None:
    m = applicant()
    _start(m)
    m.accept_transfer(**_m(letter_number="L-1"))
    assert (m.organisation_id, m.stage) == (RECEIVER, Stage.APPLICANT)


def test_time_as_activist_carries_across_a_transfer() -> None:
    m = activist(since=date(2021, 3, 1))
    m.start_transfer(
        to_organisation_id=RECEIVER,
        letter_number="F-1",
        valid_days=None,
        effective_date=date(2021, 9, 1),
        recorded_on=TODAY,
        by=BY,
    )
    m.accept_transfer(
        letter_number="F-1", effective_date=date(2021, 9, 10), recorded_on=TODAY, by=BY
    )
    assert m.activist_since == date(2021, 3, 1)
    refused(
        "ACTIVIST_PERIOD_TOO_SHORT",
        m.admit_as_development_target,
        m,
        decided_by=RECEIVER,
        effective_date=date(2022, 2, 28),
        recorded_on=TODAY,
        by=BY,
    )
    m.admit_as_development_target(
        decided_by=RECEIVER, effective_date=date(2022, 3, 1), recorded_on=TODAY, by=BY
    )
    assert m.stage is Stage.DEVELOPMENT_TARGET


def test_a_development_targets_file_keeps_its_preconditions() -> None:
    m = target()
    m.record_training(days=3, hours=0, effective_date=D, recorded_on=TODAY, by=BY)
    _start(m)
    m.accept_transfer(**_m(letter_number="L-1"))
    assert m.training_days == 3
