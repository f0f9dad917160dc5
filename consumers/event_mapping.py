"""Domain events → the public Avro records, topics and keys.

The schema of `Aggregate.Event` is registry.events.<Aggregate><Event>, and its fields
are the event's attributes of the same name: what the schema leaves out (citizen ID
numbers, contact details) never leaves the store.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from schemas import topics
from schemas.catalog import Catalog

NAMESPACE = "registry.events"
ENVELOPE = {
    "event_id",
    "aggregate_id",
    "version",
    "effective_date",
    "recorded_at",
    "request_id",
    "source_system",
}
_TOPIC_OF_AGGREGATE = {
    "Member": topics.MEMBER_EVENTS,
    "Organisation": topics.ORGANISATION_EVENTS,
    "ChangeRequest": topics.CHANGE_OUTCOMES,
    "DeadLetter": topics.DEAD_LETTERS,
    "Anchor": topics.ANCHORS,
}


@dataclass(frozen=True)
class Publication:
    topic: str
    key: bytes | None
    schema_name: str
    record: dict[str, Any]


def event_id(aggregate_id: UUID, version: int) -> str:
    return f"{aggregate_id}:{version}"


@functools.cache  # a handful of event classes, asked once per event
def schema_name_of(qualname: str) -> str:
    aggregate = qualname.split(".", 1)[0]
    if aggregate == "ChangeRequest":
        return f"{NAMESPACE}.ChangeOutcome"
    if aggregate == "DeadLetter":
        return f"{NAMESPACE}.DeadLetter"
    return f"{NAMESPACE}.{qualname.replace('.', '')}"


@functools.cache
def topic_of(qualname: str) -> str | None:
    """None for events that stay inside the registry (integrators' scopes)."""
    return _TOPIC_OF_AGGREGATE.get(qualname.split(".", 1)[0])


def envelope(event: Any) -> dict[str, Any]:
    # The aggregate id as its string, as Avro carries it: made once, not per use.
    aggregate_id = str(event.originator_id)
    return {
        "event_id": f"{aggregate_id}:{event.originator_version}",
        "aggregate_id": aggregate_id,
        "version": event.originator_version,
        "effective_date": getattr(event, "effective_date", None) or event.timestamp.date(),
        "recorded_at": event.timestamp,
        "request_id": getattr(event, "request_id", None),
        "source_system": getattr(event, "source_system", None),
    }


def domain_record(catalog: Catalog, event: Any) -> Publication | None:
    """Members' and organisations' events: attributes copied by the schema's field names."""
    qualname = type(event).__qualname__
    topic = topic_of(qualname)
    if topic not in (topics.MEMBER_EVENTS, topics.ORGANISATION_EVENTS, topics.ANCHORS):
        return None
    name = schema_name_of(qualname)
    record = envelope(event)
    for field_name, default in _copied_fields(catalog, name):
        value = getattr(event, field_name, _NO_DEFAULT)
        if value is _NO_DEFAULT:
            # An event stored before its schema gained a field (with a default, as
            # compatibility demands) is published under the current schema with it.
            if default is _NO_DEFAULT:
                raise LookupError(
                    f"{qualname} has no attribute {field_name!r} and its schema field has no "
                    "default: upcast the stored event (eventsourcing class_version) first"
                )
            value = default
        record[field_name] = value
    return Publication(topic, record["aggregate_id"].encode(), name, record)


_NO_DEFAULT = object()


@functools.cache
def _copied_fields(catalog: Catalog, name: str) -> tuple[tuple[str, Any], ...]:
    """The schema's fields outside the envelope, with their defaults: read once per
    schema, not per event."""
    return tuple(
        (field["name"], field.get("default", _NO_DEFAULT))
        for field in catalog.by_name[name].source["fields"]
        if field["name"] not in ENVELOPE
    )


def outcome_record(decided: Any, event: Any, caused: list[dict[str, Any]]) -> Publication:
    """A ChangeOutcome for Decided, Repeated (same answer again) or ConflictRefused."""
    record = envelope(event)
    record["request_id"] = decided.request_id
    record["source_system"] = decided.source_system
    if type(event).__qualname__.endswith("ConflictRefused"):
        record.update(
            accepted=False,
            code="DUPLICATE_REQUEST_ID_CONFLICT",
            message="the request id was used before with another body; the first outcome stands",
            offending_values={"request_id": decided.request_id, "body_digest": event.body_digest},
            caused=[],
            body_digest=event.body_digest,
        )
    else:
        record.update(
            accepted=decided.accepted,
            code=decided.code,
            message=decided.message,
            offending_values=dict(decided.values),
            caused=caused,
            body_digest=decided.body_digest,
        )
    return Publication(
        topics.CHANGE_OUTCOMES, decided.request_id.encode(), f"{NAMESPACE}.ChangeOutcome", record
    )


def dead_letter_record(event: Any) -> Publication:
    record = envelope(event)
    record.update(
        received_from=event.received_from,
        reason=event.reason,
        original_key=event.key,
        original_value=event.value,
    )
    return Publication(topics.DEAD_LETTERS, event.key, f"{NAMESPACE}.DeadLetter", record)
