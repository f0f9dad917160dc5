"""Every domain event has its `.avsc`, field for field, and its values encode with it."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, date
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from domain_builders import (
    BRANCH,
    BY,
    DISTRICT_COMMITTEE,
    STREET_COMMITTEE,
    TODAY,
    applicant,
    full_member,
    probationary,
)
from organisation_builders import city, district, org, street

from domain.member import Member
from domain.organisation import Organisation
from domain.vocabulary import (
    Circumstance,
    OrganisationKind,
    OrganisationLevel,
    Sex,
    SuspensionReason,
)
from schemas.catalog import load_catalog

EVENTS_DIR = Path(__file__).resolve().parents[2] / "schemas" / "events"
ENVELOPE = [
    "event_id",
    "aggregate_id",
    "version",
    "effective_date",
    "recorded_at",
    "request_id",
    "source_system",
]
# Event attributes that stay out of the public schemas: personal data (encrypted in the
# store only) and eventsourcing's own fields, which the envelope carries instead.
PERSONAL = {"citizen_id", "phone", "address", "card_number"}
STORE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}
ENVELOPE_ATTRIBUTES = {"effective_date", "request_id", "source_system"}
# The created event's id argument is the aggregate id, so it travels as aggregate_id.
CREATED_ID = {"Applied": "member_id", "Established": "organisation_id"}
ENUMS: dict[str, type[StrEnum]] = {
    "Sex": Sex,
    "Circumstance": Circumstance,
    "SuspensionReason": SuspensionReason,
    "OrganisationKind": OrganisationKind,
    "OrganisationLevel": OrganisationLevel,
}


def event_classes() -> list[tuple[str, type]]:
    found = []
    for aggregate in (Member, Organisation):
        for name, value in vars(aggregate).items():
            if (
                isinstance(value, type)
                and issubclass(value, aggregate.Event)
                and name not in ("Event", "Created")
            ):
                found.append((f"{aggregate.__name__}{name}", value))
    return found


def published_attributes(event_name: str, attributes: list[str]) -> set[str]:
    leave_out = PERSONAL | STORE_FIELDS | ENVELOPE_ATTRIBUTES | {CREATED_ID.get(event_name, "")}
    return {a for a in attributes if a not in leave_out}


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / f"{name}.avsc").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("name", "cls"), event_classes(), ids=[n for n, _ in event_classes()])
def test_every_event_has_a_schema_with_the_same_fields(name: str, cls: type) -> None:
    schema = load(name)
    assert (schema["name"], schema["namespace"]) == (name, "registry.events")
    fields = [f["name"] for f in schema["fields"]]
    assert fields[:7] == ENVELOPE
    event_name = name.removeprefix("Member").removeprefix("Organisation")
    attributes = [p for p in inspect.signature(cls).parameters if p != "self"]
    assert set(fields[7:]) == published_attributes(event_name, attributes)


def test_enums_in_schemas_match_the_vocabulary() -> None:
    def enums(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, dict):
            own = [node] if node.get("type") == "enum" else []
            return own + [e for v in node.values() for e in enums(v)]
        if isinstance(node, list):
            return [e for v in node for e in enums(v)]
        return []

    seen: dict[str, dict[str, Any]] = {}
    for path in sorted(EVENTS_DIR.glob("*.avsc")):
        for e in enums(json.loads(path.read_text(encoding="utf-8"))):
            if e["name"] in ENUMS:
                assert e["symbols"] == [m.value for m in ENUMS[e["name"]]], path.name
            assert seen.setdefault(e["name"], e) == e, f"{e['name']} differs in {path.name}"


# -- every event, as the domain makes it, encodes with its schema --------------------


def every_event() -> list[Any]:
    d = date(2023, 3, 1)
    kw: dict[str, Any] = {"recorded_on": TODAY, "by": BY}
    m = full_member()
    m.order_correction(until=date(2023, 6, 1), decided_by=BRANCH, effective_date=d, **kw)
    m.end_correction(effective_date=date(2023, 4, 1), **kw)
    m.impose_party_probation(
        until=date(2023, 6, 1), decided_by=BRANCH, effective_date=date(2023, 4, 1), **kw
    )
    m.end_party_probation(effective_date=date(2023, 6, 1), **kw)
    m.suspend(
        reason=SuspensionReason.LOST_CONTACT,
        out_of_touch_since=date(2022, 12, 1),
        decided_by=BRANCH,
        effective_date=date(2023, 6, 1),
        **kw,
    )
    m.restore(decided_by=BRANCH, effective_date=date(2023, 7, 1), **kw)
    for c in (Circumstance.IN_SERVICE, Circumstance.MOBILE):
        m.set_circumstance(circumstance=c, effective_date=d, **kw)
    community = uuid4()
    m.register_with_community(community_id=community, effective_date=d, **kw)
    m.record_community_feedback(
        community_id=community, to_organisation_id=BRANCH, summary="ok", effective_date=d, **kw
    )
    m.record_community_opinion(
        community_id=community, summary="ok", favourable=True, effective_date=d, **kw
    )
    m.end_community_registration(effective_date=d, **kw)
    m.place(
        organisation_id=uuid4(), identity_verified=True, card_number="C-1", effective_date=d, **kw
    )
    m.end_placement(effective_date=d, **kw)
    m.clear_circumstance(circumstance=Circumstance.MOBILE, effective_date=d, **kw)
    m.start_transfer(
        to_organisation_id=uuid4(), letter_number="L-1", valid_days=None, effective_date=d, **kw
    )
    m.renew_transfer(letter_number="L-1", valid_days=30, effective_date=date(2023, 4, 1), **kw)
    m.accept_transfer(letter_number="L-1", effective_date=date(2023, 4, 2), **kw)
    m.record_return_slip(letter_number="L-1", effective_date=date(2023, 4, 3), **kw)
    m.start_transfer(
        to_organisation_id=BRANCH,
        letter_number="L-2",
        valid_days=None,
        effective_date=date(2023, 5, 1),
        **kw,
    )
    m.refuse_transfer(letter_number="L-2", reason="no", effective_date=date(2023, 5, 2), **kw)
    m.expel(
        reason="x",
        decided_by=BRANCH,
        approver=DISTRICT_COMMITTEE,
        approved_on=date(2023, 8, 1),
        effective_date=date(2023, 8, 1),
        **kw,
    )
    m.reapply(
        name="x",
        ethnicity="Han",
        education="x",
        occupation="x",
        phone="1",
        address="x",
        organisation_id=BRANCH,
        effective_date=date(2024, 1, 1),
        **kw,
    )
    m.withdraw(effective_date=date(2024, 2, 1), **kw)

    end = date(2022, 6, 1)
    decision = {"decided_by": BRANCH, "approver": STREET_COMMITTEE, "approved_on": end}
    p = probationary()
    p.extend_probation(months=6, effective_date=end, **decision, **kw)
    p.cancel_probation(reason="x", effective_date=end, **decision, **kw)
    r = full_member()
    r.remove(reason="x", decided_by=BRANCH, effective_date=d, **kw)
    a = applicant()
    a.record_application_talk(held_by=BRANCH, effective_date=date(2020, 3, 20), **kw)
    a.record_death(effective_date=d, **kw)

    c = city()
    s = street(district(c))
    jb = org(OrganisationLevel.UNIT, s, OrganisationKind.JOINT_BRANCH, covered_units=["u1"])
    jb.release_unit(unit_code="u1", effective_date=d, by=BY)
    jb.rename(name="y", effective_date=d, by=BY)
    jb.reparent(parent=street(district(c)), effective_date=d, by=BY)
    other = org(OrganisationLevel.UNIT, s, OrganisationKind.BRANCH)
    s.admit_to_coordination_body(unit=jb, effective_date=d, by=BY)
    s.release_from_coordination_body(unit_organisation_id=jb.id, effective_date=d, by=BY)
    jb.merge_into(target=other, member_count=0, effective_date=d, by=BY)
    other.dissolve(member_count=0, effective_date=d, by=BY)
    return [e for agg in (m, p, r, a, jb, other, s) for e in agg.collect_events()]


def plain(v: Any) -> Any:
    if isinstance(v, UUID):
        return str(v)
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def to_record(event: Any, name: str) -> dict[str, Any]:
    schema = load(name)
    attributes = vars(event)
    record: dict[str, Any] = {
        "event_id": f"{event.originator_id}:{event.originator_version}",
        "aggregate_id": str(event.originator_id),
        "version": event.originator_version,
        "recorded_at": event.timestamp.astimezone(UTC),
    }
    for f in schema["fields"]:
        if f["name"] not in record:
            record[f["name"]] = plain(attributes[f["name"]])
    return record


def test_every_event_class_is_exercised_and_encodes_with_its_schema() -> None:
    events = every_event()
    names = {f"{type(e).__qualname__.replace('.', '')}" for e in events}
    assert names == {n for n, _ in event_classes()}
    catalog = load_catalog()
    for e in events:
        name = type(e).__qualname__.replace(".", "")
        record = to_record(e, name)
        full = f"registry.events.{name}"
        decoded_name, decoded = catalog.decode(catalog.encode(full, record))
        assert decoded_name == full
        assert {k: plain(v) for k, v in decoded.items()} == record
