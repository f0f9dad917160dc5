"""The relay's compiled Avro encoder writes fastavro's bytes for every schema it takes,
and hands back to fastavro what it does not take."""

from __future__ import annotations

import copy
import random
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest

from schemas import compiled
from schemas.catalog import load_catalog
from schemas.codec import Writer
from schemas.examples import example_record

CATALOG = load_catalog()
EVENT_SCHEMAS = sorted(n for n in CATALOG.by_name if n.startswith("registry.events."))


def _variants(source: dict[str, Any], record: dict[str, Any]) -> list[dict[str, Any]]:
    """The example, with every optional field null, and with its lists and maps empty,
    large numbers, non-ASCII text and the Python types fastavro converts."""
    nulls = {k: (None if v is not None and k in ("request_id", "source_system") else v)
             for k, v in record.items()}
    empty = {k: (type(v)() if isinstance(v, list | dict) else v) for k, v in record.items()}
    other = copy.deepcopy(record)
    text = {f["name"] for f in source["fields"] if f["type"] in ("string", ["null", "string"])}
    for key, value in other.items():
        if key in text and isinstance(value, str):
            other[key] = value + " 王芳 ✓" * 3
        elif isinstance(value, int) and not isinstance(value, bool):
            other[key] = value * 1_000_003
    other["aggregate_id"] = uuid4()  # a UUID object, as the domain has it
    other["recorded_at"] = datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    other["effective_date"] = date(1900, 1, 1)
    return [record, nulls, empty, other]


@pytest.mark.parametrize("name", EVENT_SCHEMAS)
def test_every_event_schema_is_compiled_and_writes_fastavros_bytes(name: str) -> None:
    source = CATALOG.by_name[name].source
    writer = Writer(source)
    assert writer._compiled is not None, f"{name} falls back to fastavro"
    for record in _variants(source, example_record(source)):
        assert writer.encode(record) == writer.encode_with_fastavro(record)
        assert CATALOG.decode(writer.encode(record))[0] == name


def test_a_missing_field_is_written_with_its_default_by_fastavro() -> None:
    source = CATALOG.by_name["registry.events.MemberApplied"].source
    writer = Writer(source)
    record = example_record(source)
    del record["request_id"]  # default null
    with pytest.raises(compiled.NeedsDefault):
        compiled.compile_schema(source)(record)
    assert writer.encode(record) == writer.encode_with_fastavro(record)
    del record["name"]  # no default: fastavro's error
    with pytest.raises(ValueError, match="no value and no default"):
        writer.encode(record)


def test_wrong_values_fail_as_with_fastavro() -> None:
    source = CATALOG.by_name["registry.events.MemberApplied"].source
    record = example_record(source)
    record["sex"] = "NEITHER"
    with pytest.raises(ValueError):
        Writer(source).encode(record)
    record = example_record(source)
    record["version"] = "3"
    with pytest.raises(TypeError):
        Writer(source).encode(record)


def test_schemas_it_does_not_take_go_to_fastavro() -> None:
    source = {
        "type": "record", "name": "R", "namespace": "t",
        "fields": [{"name": "x", "type": "double"},
                   {"name": "y", "type": ["null", "string", "long"]}],
    }
    with pytest.raises(compiled.Unsupported):
        compiled.compile_schema(source)
    writer = Writer(source)
    assert writer._compiled is None
    assert writer.encode({"x": 1.5, "y": 7}) == writer.encode_with_fastavro({"x": 1.5, "y": 7})


def test_longs_of_every_size_are_fastavros() -> None:
    source = {"type": "record", "name": "N", "namespace": "t",
              "fields": [{"name": "x", "type": "long"}]}
    writer = Writer(source)
    rng = random.Random(7)
    numbers = [*range(-70_000, 70_000, 7), 2**63 - 1, -(2**63), 2**21, 2**21 - 1]
    numbers += [rng.randrange(-(2**63), 2**63) >> rng.randrange(64) for _ in range(20_000)]
    for n in numbers:
        assert writer.encode({"x": n}) == writer.encode_with_fastavro({"x": n}), n
