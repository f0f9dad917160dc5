"""Stored events → domain events, for the relay to publish, at less cost than
eventsourcing's mapper.

The relay only reads a domain event's attributes to copy them into its Avro record,
where ids are text. eventsourcing's mapper makes a `UUID` of every id in the stored
state (slow in Python), which fastavro then turns back into text. Here the same JSON
transcodings decode the state, except that ids stay text, in the form `str(UUID)`
gives; the event is made as the mapper makes it (its class, its state as `__dict__`),
with the aggregate id as text too.

An event whose class is upcast (a `class_version` above 1, or one in the stored state)
goes through eventsourcing's own mapper: upcasters get the state they were written
for.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoder,
    Transcoding,
)
from eventsourcing.utils import resolve_topic

from registry.store_json import StoreTranscoder

__all__ = ["PlainEvents", "uuid_text"]

_HEX32 = re.compile("[0-9a-f]{32}").fullmatch


def uuid_text(hex_: str) -> str:
    """`str(UUID(hex_))`, without making the UUID for the usual 32 lower-case digits."""
    if _HEX32(hex_):
        return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"
    return str(UUID(hex_))


class _UUIDAsText(Transcoding):
    type = UUID
    name = "uuid_hex"

    def encode(self, obj: UUID) -> str:
        return obj.hex

    def decode(self, data: str) -> str:
        return uuid_text(data)


class PlainEvents:
    def __init__(self, transcoder: Transcoder) -> None:
        self._mapper: Mapper[UUID] = Mapper(transcoder=transcoder)
        self._text_ids: JSONTranscoder | None = None
        # Another transcoder than eventsourcing's JSON one (or the store's, which reads
        # the same JSON) may decode otherwise: its events all go through the mapper.
        if type(transcoder) in (JSONTranscoder, StoreTranscoder):
            self._text_ids = type(transcoder)()
            for transcoding in transcoder.names.values():
                self._text_ids.register(transcoding)
            self._text_ids.register(_UUIDAsText())
        self._classes: dict[str, tuple[type, bool]] = {}

    def event(self, topic: str, aggregate_id: UUID, aggregate_text: str, version: int,
              plain: bytes) -> Any:
        """The domain event of a stored event's plain (decrypted) state; its ids as text
        unless it is upcast. `aggregate_text` is `str(aggregate_id)`."""
        try:
            cls, upcast = self._classes[topic]
        except KeyError:
            cls = resolve_topic(topic)
            upcast = getattr(cls, "class_version", 1) != 1
            self._classes[topic] = (cls, upcast)
        if not upcast and self._text_ids is not None:
            state: dict[str, Any] = self._text_ids.decode(plain)
            if "class_version" not in state:
                state["originator_id"] = aggregate_text
                state["originator_version"] = version
                event = object.__new__(cls)
                object.__setattr__(event, "__dict__", state)
                return event
        return self._mapper.to_domain_event(StoredEvent(aggregate_id, version, topic, plain))

