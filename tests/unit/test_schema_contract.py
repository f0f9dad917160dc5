"""The published schemas as a contract (ARCHITECTURE.md, principles 5 and 8): documented,
typed with logical types, free of personal data on public topics, and readable by any
Avro library from the `.avsc` files alone."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
import pytest
from fastavro import schemaless_reader
from fastavro.schema import parse_schema, to_parsing_canonical_form
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import BadMarker, CorruptBody, DecodeError, UnknownFingerprint, codec
from schemas.catalog import load_catalog
from schemas.compat import current_files
from schemas.examples import example_record

SCHEMA_FILES = current_files()
EVENT_FILES = [p for p in SCHEMA_FILES if p.parent.name == "events"]
# Names that end in _id but are not the registry's opaque ids, each with its reason.
NOT_OPAQUE_IDS = {
    "event_id": "'<aggregate_id>:<version>', not a uuid",
    "request_id": "chosen by the sending unit system",
    # Carried only on the ingest topic and never published (see PERSONAL below).
    "member_citizen_id": "the citizen ID number of GB 11643-1999",
}
PERSONAL = ("citizen", "id_number", "id_card", "phone", "mobile", "address", "contact",
            "email")


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def walk(schema: Any) -> Iterator[dict[str, Any]]:
    """Every named type and field definition, depth first."""
    if isinstance(schema, list):
        for branch in schema:
            yield from walk(branch)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            yield schema
        for f in schema.get("fields", []):
            yield {"field": True, **f}
            yield from walk(f["type"])
        for key in ("items", "values"):
            if key in schema:
                yield from walk(schema[key])
        if isinstance(schema.get("type"), (dict, list)):
            yield from walk(schema["type"])


def fields(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for node in walk(schema):
        if node.get("field"):
            yield node["name"], node


def logical_types(type_: Any) -> set[str | None]:
    """The logical types a field's values can carry, looking through nullable unions."""
    if isinstance(type_, list):
        return set().union(*(logical_types(b) for b in type_ if b != "null"))
    if isinstance(type_, dict) and isinstance(type_.get("type"), str):
        return {type_.get("logicalType")}
    return {None}


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=ids(SCHEMA_FILES))
def test_every_type_and_field_is_documented(path: Path) -> None:
    for node in walk(load(path)):
        label = node["name"]
        assert isinstance(node.get("doc"), str) and node["doc"].strip(), f"{label}: no doc"


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=ids(SCHEMA_FILES))
def test_dates_times_and_ids_use_logical_types(path: Path) -> None:
    for name, f in fields(load(path)):
        found = logical_types(f["type"])
        if name.endswith(("_date", "_on", "_until")):
            assert found == {"date"}, f"{name}: {found}, want date"
        elif name.endswith("_at"):
            assert found <= {"timestamp-millis", "timestamp-micros"}, f"{name}: {found}"
        elif name.endswith("_id") and name not in NOT_OPAQUE_IDS:
            assert found == {"uuid"}, f"{name}: {found}, want uuid"
        elif name in ("event_id", "request_id"):
            assert found == {None}, f"{name} is text, not a uuid"


@pytest.mark.parametrize("path", EVENT_FILES, ids=ids(EVENT_FILES))
def test_no_personal_data_on_public_topics(path: Path) -> None:
    for name, _ in fields(load(path)):
        assert not any(word in name.lower() for word in PERSONAL), (
            f"{path.name}: field {name!r} looks like personal data (ARCHITECTURE.md, 8)")


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=ids(SCHEMA_FILES))
def test_every_enum_has_a_default(path: Path) -> None:
    """So that adding a symbol later stays readable by old consumers."""
    for node in walk(load(path)):
        if node.get("type") == "enum":
            assert node.get("default") in node["symbols"], f"{node['name']}: no default"


def plain(value: Any) -> Any:
    """Values as either library returns them, made comparable."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], str) \
            and isinstance(value[1], dict) and value[0].startswith("registry."):
        return plain(value[1])  # fastavro's (record name, record) for a union branch
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return value


def without_logical_types(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [without_logical_types(v) for v in schema]
    return schema


def crc64_avro(data: bytes) -> bytes:
    """The Rabin fingerprint as the Avro specification spells it, for an independent check."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp.to_bytes(8, "little")


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=ids(SCHEMA_FILES))
def test_encoded_record_decodes_with_official_avro_and_fastavro(path: Path) -> None:
    source = load(path)
    text = path.read_text(encoding="utf-8")
    name = f"{source['namespace']}.{source['name']}"
    record = example_record(source)
    data = load_catalog().encode(name, record)

    assert data[:2] == b"\xc3\x01"
    fp, body = data[2:10], data[10:]
    assert fp == crc64_avro(to_parsing_canonical_form(source).encode())
    # avro 1.12's own canonical form keeps `{"type": "string"}` where a logical type was
    # stripped, against the specification ([PRIMITIVES] after [STRIP]) and Java; its CRC is
    # right, so a schema without logical types gives the published fingerprint.
    official = avro.schema.parse(text)
    assert avro.schema.parse(json.dumps(without_logical_types(source))).fingerprint() == fp

    by_avro = avro.io.DatumReader(official).read(avro.io.BinaryDecoder(io.BytesIO(body)))
    by_fastavro = schemaless_reader(io.BytesIO(body), parse_schema(source), None)
    assert plain(by_avro) == plain(record)
    assert plain(by_fastavro) == plain(record)


# ---------------------------------------------------------------- bad bytes


def sample() -> tuple[str, bytes]:
    catalog = load_catalog()
    name = "registry.events.MemberApplied"
    return name, catalog.encode(name, example_record(catalog.by_name[name].source))


@pytest.mark.parametrize("data", [b"", b"\xc3", b"\xc3\x01", b"{}", b"\x00\x01" + bytes(20),
                                  b"\xc3\x02" + bytes(20)])
def test_wrong_marker(data: bytes) -> None:
    with pytest.raises(BadMarker):
        load_catalog().decode(data)


def test_unknown_fingerprint() -> None:
    _, data = sample()
    with pytest.raises(UnknownFingerprint):
        load_catalog().decode(data[:2] + bytes(8) + data[10:])


def test_truncated_body() -> None:
    _, data = sample()
    for cut in range(codec.HEADER_LENGTH, len(data)):
        with pytest.raises(CorruptBody):
            load_catalog().decode(data[:cut])


def test_trailing_garbage() -> None:
    _, data = sample()
    with pytest.raises(CorruptBody):
        load_catalog().decode(data + b"\x00")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        load_catalog().decode(data)


FINGERPRINTS = sorted(load_catalog().by_fingerprint)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FINGERPRINTS), st.binary(max_size=300))
def test_random_bodies_raise_only_decode_errors(fp: bytes, body: bytes) -> None:
    """Behind a known fingerprint the bytes reach the Avro reader itself."""
    with contextlib.suppress(DecodeError):
        load_catalog().decode(codec.MARKER + fp + body)


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_mutated_records_raise_only_decode_errors(data: st.DataObject) -> None:
    _, good = sample()
    raw = bytearray(good)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(codec.HEADER_LENGTH, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(DecodeError):
        load_catalog().decode(bytes(raw))
