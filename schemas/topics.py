"""Topic names and record headers: the Kafka side of the public contract."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CHANGE_REQUESTS = "registry.change-requests"
CHANGE_OUTCOMES = "registry.change-outcomes"
MEMBER_EVENTS = "registry.member-events"
ORGANISATION_EVENTS = "registry.organisation-events"
DEAD_LETTERS = "registry.dead-letters"
ANCHORS = "registry.anchors"

ALL_TOPICS = (
    CHANGE_REQUESTS,
    CHANGE_OUTCOMES,
    MEMBER_EVENTS,
    ORGANISATION_EVENTS,
    DEAD_LETTERS,
    ANCHORS,
)

# CloudEvents binary mode (Kafka protocol binding), values UTF-8.
CE_SPECVERSION = "ce_specversion"
CE_ID = "ce_id"
CE_SOURCE = "ce_source"
CE_TYPE = "ce_type"
CE_TIME = "ce_time"
CE_SUBJECT = "ce_subject"
CONTENT_TYPE = "content-type"
# Registry extensions.
POSITION = "registry_position"
SCHEMA_FINGERPRINT = "registry_schema_fingerprint"
EPOCH = "registry_epoch"

CE_SOURCE_VALUE = "/registry/store"
CONTENT_TYPE_VALUE = "application/avro"
CE_SPECVERSION_VALUE = "1.0"


@dataclass(frozen=True)
class Topic:
    """One topic as the AsyncAPI document and the subscriber guide describe it."""

    name: str
    key: str  # what the Kafka key holds, in words
    key_is_uuid: bool
    # Avro full names of the values; a trailing '*' stands for every schema with that prefix,
    # so a new event type lands in the document without anyone editing this table.
    values: tuple[str, ...]
    registry_sends: bool  # False: unit systems send, the registry receives
    description: str


TOPICS = (
    Topic(
        CHANGE_REQUESTS,
        "the sender's member reference or the request id: requests with the same key "
        "are handled in order",
        False,
        # ChangeRequest (an envelope and a closed union of the first kinds) and one schema
        # per later kind: a kind added later is a new schema, which no reader trips on.
        ("registry.requests.*",),
        False,
        "Unit systems (registered integrators) send change requests here: a ChangeRequest "
        "(envelope and a union of the first request kinds) or, for every later kind, the "
        "schema of that kind (envelope fields beside its own). Each gets exactly one "
        "ChangeOutcome on registry.change-outcomes; re-sending the same request id and body "
        "is safe. Bytes that are not a change request go to registry.dead-letters.",
    ),
    Topic(
        CHANGE_OUTCOMES,
        "the request id",
        False,
        ("registry.events.ChangeOutcome",),
        True,
        "One outcome per change request: accepted with the events it caused, or rejected "
        "with a stable code.",
    ),
    Topic(
        MEMBER_EVENTS,
        "the member id (uuid text): one member's events stay in one partition, in order",
        True,
        ("registry.events.Member*",),
        True,
        "Every change to a member, in order per member. No citizen ID numbers or contact "
        "details: members are identified by an opaque id.",
    ),
    Topic(
        ORGANISATION_EVENTS,
        "the organisation id (uuid text)",
        True,
        ("registry.events.Organisation*",),
        True,
        "Every change to the tree of party organisations, in order per organisation.",
    ),
    Topic(
        DEAD_LETTERS,
        "the key of the record that could not be read, as received",
        False,
        ("registry.events.DeadLetter",),
        True,
        "Records on registry.change-requests that could not be read, with the reason.",
    ),
    Topic(
        ANCHORS,
        "the seal's id (uuid text)",
        False,
        ("registry.events.AnchorSealed",),
        True,
        "Seals of the store's history in fixed blocks of positions, each chained to the one "
        "before: keep them to prove later that no recorded event was altered or removed.",
    ),
)


def values_of(topic: Topic, schema_names: Iterable[str]) -> list[str]:
    """The schemas (by full name, sorted) whose records go on `topic`."""
    return sorted(
        n
        for n in schema_names
        if any(n.startswith(v[:-1]) if v.endswith("*") else n == v for v in topic.values)
    )
