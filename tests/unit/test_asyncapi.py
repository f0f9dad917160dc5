"""The checked-in AsyncAPI document is the generated one, and it says what the topics carry."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from schemas import asyncapi, topics
from schemas.catalog import load_catalog

REPO = Path(__file__).resolve().parents[2]
CHECKED_IN = REPO / "docs" / "asyncapi.json"


def test_checked_in_document_is_up_to_date() -> None:
    assert CHECKED_IN.read_text(encoding="utf-8") == asyncapi.render(), (
        "docs/asyncapi.json is stale: run python -m schemas.asyncapi > docs/asyncapi.json")


def test_cli_prints_the_document() -> None:
    out = subprocess.run([sys.executable, "-m", "schemas.asyncapi"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    assert out == asyncapi.render()


def test_every_schema_is_a_message_on_its_topic() -> None:
    doc = asyncapi.document()
    catalog = load_catalog()
    addresses = {c["address"]: c for c in doc["channels"].values()}
    assert set(addresses) == set(topics.ALL_TOPICS)
    carried = set()
    for channel in addresses.values():
        for ref in channel["messages"].values():
            message = doc["components"]["messages"][ref["$ref"].rpartition("/")[2]]
            carried.add(message["name"])
            assert message["contentType"] == "avro/binary"
            schema = doc["components"]["schemas"][message["name"]]
            assert schema["schemaFormat"] == asyncapi.AVRO_FORMAT
    assert carried == set(catalog.by_name), "a schema is on no topic (see schemas/topics.py)"
    member = {m["$ref"].rpartition("/")[2] for m in addresses[topics.MEMBER_EVENTS]["messages"]
              .values()}
    assert member and all(m.startswith("Member") for m in member)


def as_json(value: Any) -> Any:
    if isinstance(value, tuple):  # the codec's (record name, record) for a union branch
        return as_json(value[1])
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return json.loads(json.dumps(asyncapi._json_value(value), default=str))


def test_examples_decode_to_their_payload_and_carry_the_headers() -> None:
    doc = asyncapi.document()
    catalog = load_catalog()
    for message in doc["components"]["messages"].values():
        example = message["examples"][0]
        name, record = catalog.decode(base64.b64decode(message["x-example-value-base64"]))
        assert name == message["name"]
        assert as_json(record) == example["payload"]
        if "headers" in example:
            headers = example["headers"]
            assert set(headers) == set(asyncapi.HEADERS)
            assert headers[topics.CE_TYPE] == name
            assert headers[topics.CE_ID] == example["payload"]["event_id"]
            assert headers[topics.SCHEMA_FINGERPRINT] == message["x-fingerprints"][0]


def test_operations_point_at_their_channels_messages() -> None:
    doc = asyncapi.document()
    for op in doc["operations"].values():
        channel = op["channel"]["$ref"].rpartition("/")[2]
        assert op["action"] == ("receive" if channel == "changeRequests" else "send")
        for ref in op["messages"]:
            assert ref["$ref"].startswith(f"#/channels/{channel}/messages/")
