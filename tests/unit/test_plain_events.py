"""The relay's own decoding of stored events gives the records eventsourcing's mapper
gives, for every kind of event; an upcast event still goes through the mapper."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Mapper
from test_domain_schemas import every_event

from consumers import event_mapping
from consumers.plain_events import PlainEvents, uuid_text
from consumers.relay_reader import PageReader
from registry.handlers import ReceivedRecord
from registry.handlers.base import Batch
from registry.handlers.core import handle
from schemas.catalog import load_catalog
from schemas.codec import Writer
from tests.unit.handler_world import C1, World

CATALOG = load_catalog()


def _published(event: Any) -> tuple[str, bytes | None, str, bytes, str]:
    publication = event_mapping.domain_record(CATALOG, event)
    assert publication is not None
    writer = Writer(CATALOG.by_name[publication.schema_name].source)
    return (publication.topic, publication.key, publication.schema_name,
            writer.encode(publication.record), publication.record["recorded_at"].isoformat())


def test_every_domain_event_gives_the_mappers_record(world: World) -> None:
    transcoder = world.store.mapper.transcoder
    plain_mapper: Mapper[Any] = Mapper(transcoder=transcoder)
    events = PlainEvents(transcoder)
    for domain_event in every_event():
        stored = plain_mapper.to_stored_event(domain_event)
        faithful = plain_mapper.to_domain_event(stored)
        fast = events.event(stored.topic, stored.originator_id, str(stored.originator_id),
                            stored.originator_version, stored.state)
        assert type(fast) is type(faithful)
        assert _published(fast) == _published(faithful), type(faithful).__qualname__


class Thing(Aggregate):
    class Named(Aggregate.Event):
        class_version = 2
        name: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["name"] = state["name"].upper()

    @event(Named)
    def rename(self, name: str) -> None:
        self.title = name


def test_an_upcast_event_goes_through_the_mapper(world: World) -> None:
    plain_mapper: Mapper[Any] = Mapper(transcoder=world.store.mapper.transcoder)
    thing = Thing()
    thing.rename("old")
    named = thing.collect_events()[1]
    stored = plain_mapper.to_stored_event(named)
    # As stored before the class was at version 2.
    stored_v1 = type(stored)(stored.originator_id, stored.originator_version, stored.topic,
                             stored.state.replace(b',"class_version":2', b""))
    assert stored_v1.state != stored.state
    made = PlainEvents(world.store.mapper.transcoder).event(
        stored_v1.topic, stored_v1.originator_id, str(stored_v1.originator_id),
        stored_v1.originator_version, stored_v1.state)
    assert made.name == "OLD"
    assert made.originator_id == thing.id  # the mapper's UUID, not text


def test_uuid_text_is_the_uuids_str() -> None:
    for _ in range(100):
        uuid = uuid4()
        assert uuid_text(uuid.hex) == str(uuid)
    assert uuid_text(uuid.hex.upper()) == str(uuid)


def _pages(reader: PageReader) -> list[Any]:
    pages, start = [], 1
    while (page := reader.read(start, 7)).count:
        pages.append((page.start, page.last, page.records, page.leaves))
        start = page.last + 1
    return pages


def test_the_pages_are_the_ones_the_mapper_gives(world: World) -> None:
    for _ in range(3):
        world.apply(world.person(), C1, 30)
    person = world.person()
    first = world.request(C1, "ApplyForMembership", 10, request_id="dup-1", person=person,
                          name=person.name, ethnicity=person.ethnicity,
                          education=person.education, occupation=person.occupation,
                          phone=person.phone, address=person.address, organisation_code=C1)
    world.handle_all([first])
    world.handle_all([first])  # repeated
    world.handle_all([world.request(C1, "SetCircumstance", 5, request_id="dup-1",
                                    person=person, circumstance="RETIRED")])  # conflict
    batch = Batch(world.store)
    handle(batch, ReceivedRecord(b"k", b"not avro", "requests/0@1/999"), world.ctx)
    world.store.events.put(batch.events)
    world.store.events.put(every_event())
    fast = PageReader(world.store, CATALOG, sealing=True)
    faithful = PageReader(world.store, CATALOG, sealing=True)
    faithful._events._text_ids = None  # every event through eventsourcing's mapper
    fast_pages = _pages(fast)
    assert fast_pages == _pages(faithful)
    published = {r[0] for _, _, records, _ in fast_pages for r in records}
    assert published == {"registry.member-events", "registry.organisation-events",
                         "registry.change-outcomes", "registry.dead-letters"}

