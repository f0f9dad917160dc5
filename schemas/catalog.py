"""The schemas of this project, found by name or by fingerprint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro.schema import parse_schema

from schemas import codec

SCHEMA_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Schema:
    name: str  # Avro full name
    source: dict[str, Any]
    parsed: Any
    fingerprint: bytes


class Catalog:
    """Every schema this reader knows: current ones, plus older versions it can still read."""

    def __init__(self, schemas: list[dict[str, Any]], history: list[dict[str, Any]] = ()) -> None:
        self.by_name: dict[str, Schema] = {}
        self.by_fingerprint: dict[bytes, Schema] = {}
        # fingerprint → (writer's name, its body reader), made when first used
        self._readers: dict[bytes, tuple[str, codec.BodyReader]] = {}
        for source in schemas:
            schema = _make(source)
            self.by_name[schema.name] = schema
            self.by_fingerprint[schema.fingerprint] = schema
        # Older writer schemas decode into the current reader schema of the same name.
        for source in history:
            schema = _make(source)
            self.by_fingerprint.setdefault(schema.fingerprint, schema)

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        schema = self.by_name[name]
        return codec.encode(schema.parsed, schema.fingerprint, record)

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """Returns (schema full name, record); raises a codec.DecodeError on bad bytes."""
        fp = codec.writer_fingerprint(data)
        found = self._readers.get(fp)
        if found is None:
            writer = self.by_fingerprint.get(fp)
            if writer is None:
                raise codec.UnknownFingerprint(f"no schema with fingerprint {fp.hex()}")
            reader = self.by_name.get(writer.name, writer)
            found = self._readers[fp] = (writer.name, codec.BodyReader(
                writer.source, writer.parsed, None if reader is writer else reader.parsed))
        return found[0], found[1].decode(data)

    def fingerprint(self, name: str) -> bytes:
        return self.by_name[name].fingerprint


def _make(source: dict[str, Any]) -> Schema:
    name = f"{source['namespace']}.{source['name']}"
    # Parsed with fastavro's "parsed" marker: without it `schemaless_reader` parses the
    # writer's (and reader's) schema again on every record, half of a decode's time for
    # a request (one union of every change).
    parsed = parse_schema(source, named_schemas={})
    return Schema(name, source, parsed, codec.schema_fingerprint(source))


def read_schemas(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.avsc"))]


@cache
def load_catalog() -> Catalog:
    """Events and requests as published, with every historic version under schemas/history."""
    current = read_schemas(SCHEMA_DIR / "events") + read_schemas(SCHEMA_DIR / "requests")
    history_dir = SCHEMA_DIR / "history"
    history = [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted(history_dir.rglob("*.avsc"))
    ] if history_dir.exists() else []
    return Catalog(current, history)
