"""The compiled Avro decoder reads what fastavro reads, for every schema of the catalog,
and leaves to fastavro every record it does not read the ordinary way."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.decoding import event_decoder
from schemas import codec, compiled_reader
from schemas.catalog import SCHEMA_DIR, load_catalog
from schemas.examples import example_record

CATALOG = load_catalog()
ALL_SOURCES = sorted(
    (p.relative_to(SCHEMA_DIR).as_posix(), json.loads(p.read_text(encoding="utf-8")))
    for p in SCHEMA_DIR.rglob("*.avsc")
)
_BIG = 2**62  # zig-zag varints of nine bytes at most: the compiled decoder's ordinary case


def _values(schema: Any, namespace: str, named: dict[str, Any], *, big: bool
            ) -> st.SearchStrategy[Any]:  # fmt: skip
    """Values fastavro writes for `schema`: every branch of every union, empty and
    non-empty arrays and maps, text beyond ASCII, numbers of every size."""
    if isinstance(schema, list):
        records = sum(1 for b in schema if isinstance(b, dict) and b.get("type") == "record")
        branches = []
        for branch in schema:
            value = _values(branch, namespace, named, big=big)
            if records > 1 and isinstance(branch, dict) and branch.get("type") == "record":
                full = _full(branch, namespace)
                value = value.map(lambda record, full=full: (full, record))
            branches.append(value)
        return st.one_of(branches)
    if isinstance(schema, str):
        simple: dict[str, st.SearchStrategy[Any]] = {
            "null": st.none(), "boolean": st.booleans(),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1) if big else st.integers(-_BIG, _BIG - 1),
            "string": st.text(max_size=80), "bytes": st.binary(max_size=40),
            "float": st.floats(width=32, allow_nan=False),
            "double": st.floats(allow_nan=False),
        }  # fmt: skip
        if schema in simple:
            return simple[schema]
        full = schema if schema in named else f"{namespace}.{schema}"
        return st.deferred(lambda: _values(named[full], namespace, named, big=big))
    kind, logical = schema["type"], schema.get("logicalType")
    if logical == "date":
        return st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))
    if logical == "timestamp-micros":
        return st.datetimes(dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30),
                            timezones=st.just(dt.UTC))  # fmt: skip
    if logical == "uuid":
        return st.uuids().map(str)
    if kind == "record":
        full = _full(schema, namespace)
        named[full] = schema
        space = full.rpartition(".")[0]
        return st.fixed_dictionaries({
            f["name"]: _values(f["type"], space, named, big=big) for f in schema["fields"]})
    if kind == "enum":
        named[_full(schema, namespace)] = schema
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(_values(schema["items"], namespace, named, big=big), max_size=4)
    if kind == "map":
        return st.dictionaries(st.text(max_size=8),
                               _values(schema["values"], namespace, named, big=big),
                               max_size=4)  # fmt: skip
    return _values(kind, namespace, named, big=big)


def _full(schema: dict[str, Any], namespace: str) -> str:
    name = schema["name"]
    return name if "." in name else f"{schema.get('namespace', namespace)}.{name}"


def _encoded(source: dict[str, Any], record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    out.write(codec.MARKER + codec.schema_fingerprint(source))
    schemaless_writer(out, parse_schema(source, named_schemas={}), record)
    return out.getvalue()


def _fastavro(source: dict[str, Any]) -> Callable[[bytes], dict[str, Any]]:
    parsed = parse_schema(source, named_schemas={})
    return lambda data: codec.decode_body(memoryview(data)[codec.HEADER_LENGTH:], parsed)


@pytest.mark.parametrize(("path", "source"), ALL_SOURCES, ids=[p for p, _ in ALL_SOURCES])
def test_every_schema_compiles_and_reads_its_example_as_fastavro(path: str,
                                                                 source: dict[str, Any]) -> None:
    read = compiled_reader.compile_reader(source)
    data = _encoded(source, example_record(source))
    assert read(data, codec.HEADER_LENGTH) == (_fastavro(source)(data), len(data))


@pytest.mark.parametrize(("path", "source"), ALL_SOURCES, ids=[p for p, _ in ALL_SOURCES])
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_record_reads_as_fastavro_reads_it(path: str, source: dict[str, Any],
                                               data: st.DataObject) -> None:
    record = data.draw(_values(source, "", {}, big=False))
    encoded = _encoded(source, record)
    read = compiled_reader.compile_reader(source)
    assert read(encoded, codec.HEADER_LENGTH) == (_fastavro(source)(encoded), len(encoded))


CHANGE_REQUEST = CATALOG.by_name["registry.requests.ChangeRequest"].source
MEMBER_APPLIED = CATALOG.by_name["registry.events.MemberApplied"].source


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_bytes_that_are_not_a_record_decode_or_fail_as_with_fastavro(data: st.DataObject
                                                                     ) -> None:  # fmt: skip
    """Mutated, cut and lengthened records: the compiled path gives fastavro's record,
    or fastavro's error, never a record of its own."""
    source = data.draw(st.sampled_from([CHANGE_REQUEST, MEMBER_APPLIED]))
    raw = bytearray(_encoded(source, data.draw(_values(source, "", {}, big=True))))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["set", "cut", "add"]))
        at = data.draw(st.integers(codec.HEADER_LENGTH, len(raw)))
        if action == "set" and at < len(raw):
            raw[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del raw[at:at + data.draw(st.integers(1, 4))]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=4))
    reader = codec.BodyReader(source, parse_schema(source, named_schemas={}))
    assert reader._compiled is not None
    try:
        expected: Any = _fastavro(source)(bytes(raw))
    except codec.CorruptBody as error:
        expected = ("CorruptBody", str(error))
    try:
        got: Any = reader.decode(bytes(raw))
    except codec.CorruptBody as error:
        got = ("CorruptBody", str(error))
    assert got == expected


@pytest.mark.parametrize(("case", "body"), [
    ("enum index -1 (fastavro reads the last symbol)", b"\x01"),
    ("enum index past the symbols", b"\x0a"),
    ("long of ten bytes (fastavro wraps it)", b"\xfe" + b"\xff" * 8 + b"\x01"),
    ("long of eleven bytes", b"\xff" * 10 + b"\x01"),
    ("union index -1 (fastavro reads the last branch)", None),
])  # fmt: skip
def test_what_it_leaves_to_fastavro_reads_as_fastavro_reads_it(case: str,
                                                               body: bytes | None) -> None:
    if body is None:
        source = {"type": "record", "name": "U", "namespace": "t", "fields": [
            {"name": "u", "type": ["null", "string"]}]}
        body = b"\x01\x02ab"
    elif "enum" in case:
        source = {"type": "record", "name": "E", "namespace": "t", "fields": [
            {"name": "e", "type": {"type": "enum", "name": "S", "symbols": ["a", "b", "c"]}}]}
    else:
        source = {"type": "record", "name": "N", "namespace": "t", "fields": [
            {"name": "n", "type": "long"}]}
    data = codec.MARKER + codec.schema_fingerprint(source) + body
    with pytest.raises(compiled_reader.Unusual):
        compiled_reader.compile_reader(source)(data, codec.HEADER_LENGTH)
    reader = codec.BodyReader(source, parse_schema(source, named_schemas={}))
    try:
        expected: Any = _fastavro(source)(data)
    except codec.CorruptBody as error:
        expected = str(error)
    try:
        got: Any = reader.decode(data)
    except codec.CorruptBody as error:
        got = str(error)
    assert got == expected


def test_a_boolean_byte_other_than_0_or_1_reads_as_fastavro_reads_it() -> None:
    source = {"type": "record", "name": "B", "namespace": "t", "fields": [
        {"name": "b", "type": "boolean"}, {"name": "c", "type": "boolean"}]}
    data = codec.MARKER + codec.schema_fingerprint(source) + b"\x02\x00"
    expected = _fastavro(source)(data)
    assert expected == {"b": True, "c": False}
    assert compiled_reader.compile_reader(source)(data, codec.HEADER_LENGTH) == (expected, 12)


def test_schemas_it_does_not_take_go_to_fastavro() -> None:
    source = {"type": "record", "name": "F", "namespace": "t", "fields": [
        {"name": "x", "type": {"type": "fixed", "name": "Six", "size": 6,
                               "logicalType": "decimal", "precision": 4}}]}  # fmt: skip
    with pytest.raises(compiled_reader.Unsupported):
        compiled_reader.compile_reader(source)
    reader = codec.BodyReader(source, parse_schema(source, named_schemas={}))
    assert reader._compiled is None


def test_the_catalog_and_the_read_models_decoder_use_it() -> None:
    """Every current schema goes through its compiled decoder, in both."""
    decoder = event_decoder(CATALOG)
    for name, schema in CATALOG.by_name.items():
        data = _encoded(schema.source, example_record(schema.source))
        assert CATALOG.decode(data)[0] == name
        assert CATALOG._readers[schema.fingerprint][1]._compiled is not None, name
        assert decoder._by_fingerprint[schema.fingerprint][1]._compiled is not None, name


def test_named_types_referred_to_by_name_and_records_within_themselves_are_read() -> None:
    """Records of a schema that refers to its own named types by name, nested."""
    source = {"type": "record", "name": "Node", "namespace": "t", "fields": [
        {"name": "label", "type": "string"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "again", "type": ["null", "Kind"]},
        {"name": "children", "type": {"type": "array", "items": "Node"}},
        {"name": "next", "type": ["null", "t.Node"]},
        {"name": "tags", "type": {"type": "map", "values": ["null", "long"]}},
    ]}  # fmt: skip
    leaf = {"label": "ü", "kind": "B", "again": None, "children": [], "next": None,
            "tags": {}}  # fmt: skip
    record = {"label": "root", "kind": "A", "again": "B", "children": [leaf, leaf],
              "next": leaf, "tags": {"x": 1, "y": None, "z": -(2**40)}}  # fmt: skip
    data = _encoded(source, record)
    read = compiled_reader.compile_reader(source)
    assert read(data, codec.HEADER_LENGTH) == (_fastavro(source)(data), len(data))
