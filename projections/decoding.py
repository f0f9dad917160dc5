"""Decoding published events for the read models: the catalog's schemas, read with uuid
fields left as the strings they are on the wire.

Why: fastavro turns every `uuid` string into a `uuid.UUID` (pure Python, a few µs each)
and the read models turn each straight back into text (rows, audit JSON), several uuid
fields per event. The text is the same either way: a uuid is written as its canonical
string (the UUID's str). Everything else decodes exactly as `Catalog.decode` does, with
the same errors; the apply code takes either form (projections/apply/common.py `text`,
audit.py).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastavro.schema import parse_schema

from schemas import codec
from schemas.catalog import Catalog


def _plain_uuids(schema: Any) -> Any:
    """The schema with each `{"type": "string", "logicalType": "uuid"}` as plain string."""
    if isinstance(schema, list):
        return [_plain_uuids(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("logicalType") == "uuid" and schema.get("type") == "string":
        return "string"
    return {k: _plain_uuids(v) if k in ("type", "fields", "items", "values") else v
            for k, v in schema.items()}  # fmt: skip


class EventDecoder:
    """`decode` as Catalog.decode, uuids as str."""

    def __init__(self, catalog: Catalog) -> None:
        schemas = {id(s): s for s in (*catalog.by_name.values(),
                                      *catalog.by_fingerprint.values())}  # fmt: skip
        plain = {key: _plain_uuids(s.source) for key, s in schemas.items()}
        parsed = {key: parse_schema(source, named_schemas={}) for key, source in plain.items()}
        # fingerprint -> (writer name, body reader)
        self._by_fingerprint: dict[bytes, tuple[str, codec.BodyReader]] = {}
        for fp, writer in catalog.by_fingerprint.items():
            reader = catalog.by_name.get(writer.name, writer)
            self._by_fingerprint[fp] = (writer.name, codec.BodyReader(
                plain[id(writer)], parsed[id(writer)],
                None if reader is writer else parsed[id(reader)]))

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(schema full name, record); raises a codec.DecodeError on bad bytes."""
        fp = codec.writer_fingerprint(data)
        found = self._by_fingerprint.get(fp)
        if found is None:
            raise codec.UnknownFingerprint(f"no schema with fingerprint {fp.hex()}")
        name, body_reader = found
        return name, body_reader.decode(data)

    def decode_with_fastavro(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """As `decode`, by fastavro alone (the benchmarks' baseline)."""
        name, body_reader = self._by_fingerprint[codec.writer_fingerprint(data)]
        return name, body_reader.decode_with_fastavro(data)


@cache
def event_decoder(catalog: Catalog) -> EventDecoder:
    """One per catalog (parsing every schema takes a while)."""
    return EventDecoder(catalog)
