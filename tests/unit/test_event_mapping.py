"""Domain events → public records: what the schema leaves out stays out; older stored
events are published under the current schema."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from consumers import event_mapping
from domain.identity import CitizenId
from domain.member import Member
from domain.provenance import Provenance
from schemas.catalog import Catalog, load_catalog
from schemas.codec import Writer

ID = CitizenId.parse("11010519491231002X")


def _applied() -> object:
    member = Member.apply(
        member_id=uuid4(),
        citizen_id=ID,
        name="王芳",
        ethnicity="汉族",
        education="本科",
        occupation="教师",
        phone="13900000000",
        address="某路1号",
        organisation_id=uuid4(),
        effective_date=date(2026, 1, 5),
        recorded_on=date(2026, 1, 6),
        by=Provenance("r1", "unit-a"),
    )
    return member.collect_events()[0]


def test_personal_data_is_not_published() -> None:
    catalog = load_catalog()
    publication = event_mapping.domain_record(catalog, _applied())
    assert publication is not None
    assert publication.topic == "registry.member-events"
    assert not {"citizen_id", "phone", "address"} & set(publication.record)
    encoded = catalog.encode(publication.schema_name, publication.record)
    assert ID.number.encode() not in encoded and b"13900000000" not in encoded
    assert publication.record["event_id"] == f"{publication.record['aggregate_id']}:1"


def _catalog_with_new_field(*, with_default: bool) -> Catalog:
    sources = [copy.deepcopy(s.source) for s in load_catalog().by_name.values()]
    for source in sources:
        if source["name"] == "MemberActivistAdmitted":
            field: dict[str, object] = {
                "name": "minutes_ref",
                "type": ["null", "string"],
                "doc": "added later",
            }
            if with_default:
                field["default"] = None
            source["fields"].append(field)
    return Catalog(sources)


class _StoredActivistAdmitted:
    """Stands for a Member.ActivistAdmitted stored before the schema gained `minutes_ref`."""


_StoredActivistAdmitted.__qualname__ = "Member.ActivistAdmitted"


def _old_activist_event() -> _StoredActivistAdmitted:
    event = _StoredActivistAdmitted()
    event.__dict__.update(
        originator_id=uuid4(),
        originator_version=2,
        timestamp=datetime.now(UTC),
        effective_date=date(2026, 3, 1),
        request_id="r2",
        source_system="unit-a",
        decided_by=uuid4(),
    )
    return event


def test_an_old_stored_event_is_published_under_the_current_schema() -> None:
    catalog = _catalog_with_new_field(with_default=True)
    publication = event_mapping.domain_record(catalog, _old_activist_event())
    assert publication is not None
    assert publication.record["minutes_ref"] is None
    _, decoded = catalog.decode(catalog.encode(publication.schema_name, publication.record))
    assert decoded["minutes_ref"] is None


def test_a_field_without_default_asks_for_an_upcaster() -> None:
    catalog = _catalog_with_new_field(with_default=False)
    with pytest.raises(LookupError, match="upcast"):
        event_mapping.domain_record(catalog, _old_activist_event())


def test_the_relays_writer_gives_the_catalogs_bytes() -> None:
    catalog = load_catalog()
    publication = event_mapping.domain_record(catalog, _applied())
    assert publication is not None
    writer = Writer(catalog.by_name[publication.schema_name].source)
    encoded = writer.encode(publication.record)
    assert encoded == catalog.encode(publication.schema_name, publication.record)
    assert writer.fingerprint == catalog.fingerprint(publication.schema_name)
