"""A deterministic example record for any schema: for the AsyncAPI document, the
subscriber guide and the contract tests, so each schema is shown and exercised
without anyone writing examples by hand for every new event type."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

# Fixed so that the generated document is byte-for-byte stable.
EXAMPLE_NAMESPACE = uuid.UUID("8f9e2c3a-1d4b-4e6f-9a7c-2b5d8e1f0a63")
EXAMPLE_DATE = dt.date(2026, 3, 2)
EXAMPLE_TIME = dt.datetime(2026, 3, 2, 9, 30, 15, 250000, tzinfo=dt.UTC)
AGGREGATE_VERSION = 3


def example_uuid(label: str) -> str:
    return str(uuid.uuid5(EXAMPLE_NAMESPACE, label))


def example_record(source: dict[str, Any]) -> dict[str, Any]:
    """A record of the schema with every optional field filled, in the Python form
    fastavro writes (dates as `date`, timestamps as aware `datetime`, uuids as text)."""
    names: dict[str, dict[str, Any]] = {}
    record = _value(source, source.get("namespace", ""), "", names)
    if "event_id" in record and "aggregate_id" in record:
        # The stable event id is '<aggregate_id>:<version>' (ARCHITECTURE.md, principle 3).
        record["event_id"] = f"{record['aggregate_id']}:{record['version']}"
    return record


def _value(schema: Any, namespace: str, field: str, names: dict[str, dict[str, Any]]) -> Any:
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"] or schema
        return _value(branches[0], namespace, field, names)
    if isinstance(schema, str):
        if schema in names or f"{namespace}.{schema}" in names:
            return _value(names.get(schema) or names[f"{namespace}.{schema}"], namespace,
                          field, names)
        schema = {"type": schema}
    kind = schema["type"]
    if not isinstance(kind, str):
        return _value(kind, namespace, field, names)
    logical = schema.get("logicalType")
    if logical == "uuid":
        return example_uuid(field or "id")
    if logical == "date":
        if "birth" in field:
            return dt.date(1990, 5, 17)
        if field.endswith("_until"):
            return EXAMPLE_DATE + dt.timedelta(days=30)
        return EXAMPLE_DATE
    if logical and logical.startswith("timestamp"):
        return EXAMPLE_TIME
    if kind in ("record", "enum", "fixed"):
        ns = schema.get("namespace", namespace)
        names[schema["name"] if "." in schema["name"] else f"{ns}.{schema['name']}"] = schema
        namespace = ns
    if kind == "record":
        return {f["name"]: _value(f["type"], namespace, f["name"], names)
                for f in schema["fields"]}
    if kind == "enum":
        return schema.get("default", schema["symbols"][0])
    if kind == "fixed":
        return bytes(schema["size"])
    if kind == "array":
        return [_value(schema["items"], namespace, field, names)]
    if kind == "map":
        return {"example": _value(schema["values"], namespace, field, names)}
    return {
        "null": None,
        "boolean": True,
        "int": AGGREGATE_VERSION,
        "long": AGGREGATE_VERSION,
        "float": 1.5,
        "double": 1.5,
        "bytes": b"\xc3\x01example",
        "string": f"example {field}".strip(),
    }[kind]
