"""The AsyncAPI 3.0 document of the registry's topics, generated from the `.avsc` files
and `schemas.topics`, so that it cannot drift from what is published.

    python -m schemas.asyncapi > docs/asyncapi.json
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import sys
from typing import Any

from schemas import topics
from schemas.catalog import Catalog, load_catalog
from schemas.examples import EXAMPLE_TIME, example_record

AVRO_FORMAT = "application/vnd.apache.avro+json;version=1.9.0"
CONTENT_TYPE = "avro/binary"
KAFKA_BINDING = "0.5.0"
EXAMPLE_POSITION = 1234
EXAMPLE_EPOCH = 1

ENCODING = (
    "The value is Avro single-object encoded: the two bytes C3 01, the 8-byte "
    "little-endian CRC-64-AVRO fingerprint of the writer's schema (of its parsing "
    "canonical form), then the Avro binary body. Look the fingerprint up among the "
    "published schemas, current (schemas/events, schemas/requests) and earlier "
    "(schemas/history), and read the body with that schema as the writer's; any Avro "
    "library can do it from the .avsc files alone (docs/SUBSCRIBING.md). The fingerprints "
    "this message type may carry are listed in x-fingerprints, newest first."
)

HEADERS: dict[str, tuple[str, dict[str, Any]]] = {
    topics.CE_SPECVERSION: ("CloudEvents spec version.",
                            {"const": topics.CE_SPECVERSION_VALUE}),
    topics.CE_ID: ("Stable event id, the record's event_id ('<aggregate id>:<version>'): "
                   "the same event published twice has the same id. Compare it whole.", {}),
    topics.CE_SOURCE: ("Where the event comes from.", {"const": topics.CE_SOURCE_VALUE}),
    topics.CE_TYPE: ("Avro full name of the value's schema.", {}),
    topics.CE_TIME: ("When the registry recorded the change (RFC 3339).",
                     {"format": "date-time"}),
    topics.CE_SUBJECT: ("The aggregate id (member, organisation or change request).", {}),
    topics.CONTENT_TYPE: ("Content type of the value.", {"const": topics.CONTENT_TYPE_VALUE}),
    topics.POSITION: ("Position of the event in the event store's notification log "
                      "(decimal).", {"pattern": "^[0-9]+$"}),
    topics.SCHEMA_FINGERPRINT: ("Hex of the 8 fingerprint bytes that follow C3 01 in the "
                                "value.", {"pattern": "^[0-9a-f]{16}$"}),
    topics.EPOCH: ("Relay epoch (decimal). It increases when the topics are rebuilt from the "
                   "event store. A consumer that sees it increase must re-read the partition "
                   "from the beginning and skip the events whose (aggregate id, version) it "
                   "has already applied.", {"pattern": "^[0-9]+$"}),
}


def _id(text: str) -> str:
    """A component or channel id: registry.member-events -> memberEvents."""
    words = re.split(r"[.\-_]", text.removeprefix("registry."))
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def _short(full_name: str) -> str:
    return full_name.rpartition(".")[2]


def _json_value(value: Any) -> Any:
    """Example values in JSON: logical types as ISO 8601 / uuid text, bytes as base64."""
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _fingerprints(catalog: Catalog, name: str) -> list[str]:
    current = catalog.by_name[name].fingerprint
    older = [fp for fp, s in catalog.by_fingerprint.items() if s.name == name and fp != current]
    return [current.hex(), *sorted(fp.hex() for fp in older)]


def _message(catalog: Catalog, name: str, topic: topics.Topic) -> dict[str, Any]:
    schema = catalog.by_name[name]
    record = example_record(schema.source)
    encoded = catalog.encode(name, record)
    example: dict[str, Any] = {"name": f"{_short(name)}Example"}
    if topic.registry_sends:
        example["headers"] = {
            topics.CE_SPECVERSION: topics.CE_SPECVERSION_VALUE,
            topics.CE_ID: record["event_id"],
            topics.CE_SOURCE: topics.CE_SOURCE_VALUE,
            topics.CE_TYPE: name,
            topics.CE_TIME: EXAMPLE_TIME.isoformat(),
            topics.CE_SUBJECT: record["aggregate_id"],
            topics.CONTENT_TYPE: topics.CONTENT_TYPE_VALUE,
            topics.POSITION: str(EXAMPLE_POSITION),
            topics.SCHEMA_FINGERPRINT: schema.fingerprint.hex(),
            topics.EPOCH: str(EXAMPLE_EPOCH),
        }
    example["payload"] = _json_value(record)
    message: dict[str, Any] = {
        "name": name,
        "title": _short(name),
        "summary": schema.source["doc"],
        "description": ENCODING,
        "contentType": CONTENT_TYPE,
        "payload": {"$ref": f"#/components/schemas/{name}"},
        "bindings": {"kafka": {"key": _key_schema(topic), "bindingVersion": KAFKA_BINDING}},
        "examples": [example],
        "x-fingerprints": _fingerprints(catalog, name),
        # The example's value as published, to test a decoder against.
        "x-example-value-base64": base64.b64encode(encoded).decode(),
    }
    if topic.registry_sends:
        message["headers"] = {"$ref": "#/components/schemas/CloudEventsHeaders"}
    return message


def _key_schema(topic: topics.Topic) -> dict[str, Any]:
    key: dict[str, Any] = {"type": "string", "description": f"Kafka key: {topic.key}."}
    if topic.key_is_uuid:
        key["format"] = "uuid"
    return key


def _headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "CloudEvents Kafka binding, binary mode, plus the registry's "
                       "extensions. Every header value is a UTF-8 string.",
        "required": list(HEADERS),
        "properties": {name: {"type": "string", "description": doc, **extra}
                       for name, (doc, extra) in HEADERS.items()},
    }


def document(catalog: Catalog | None = None) -> dict[str, Any]:
    catalog = catalog or load_catalog()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"CloudEventsHeaders": _headers_schema()}
    for topic in topics.TOPICS:
        channel = _id(topic.name)
        names = topics.values_of(topic, catalog.by_name)
        for name in names:
            messages[_short(name)] = _message(catalog, name, topic)
            schemas[name] = {"schemaFormat": AVRO_FORMAT, "schema": catalog.by_name[name].source}
        channels[channel] = {
            "address": topic.name,
            "title": topic.name,
            "description": f"{topic.description} Key: {topic.key}.",
            "messages": {_short(n): {"$ref": f"#/components/messages/{_short(n)}"}
                         for n in names},
            "bindings": {"kafka": {"topic": topic.name, "bindingVersion": KAFKA_BINDING}},
        }
        verb = "send" if topic.registry_sends else "receive"
        operations[f"{verb}{channel[:1].upper()}{channel[1:]}"] = {
            "action": verb,
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": ("The registry publishes." if topic.registry_sends
                        else "Unit systems send; the registry consumes."),
            "messages": [{"$ref": f"#/channels/{channel}/messages/{_short(n)}"}
                         for n in names],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Party membership registry: published events and change requests",
            "version": "1.0.0",
            "description": (
                "Generated by `python -m schemas.asyncapi` from schemas/*.avsc and "
                "schemas/topics.py; do not edit by hand. Schemas change only FULL-transitive "
                "compatibly (`python -m schemas.compat check`). Repeats: an event may be "
                "published more than once with the same ce_id; skip an event whose "
                "(aggregate_id, version) you have applied. Epochs: when registry_epoch "
                "increases, re-read the partition from the beginning, applying the same skip "
                "rule. How to subscribe: docs/SUBSCRIBING.md."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def render(catalog: Catalog | None = None) -> str:
    return json.dumps(document(catalog), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
