"""What the integration tests share: a small city sent as an integrator would, waiting,
and reading topics back with nothing but the .avsc files."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form
from kafka import KafkaConsumer, TopicPartition

from projections.database import Database
from registry.city import Person, city_tree, people
from registry.client import IntegratorClient, change_request
from registry.config import Settings

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CITY = "city-system"


def wait_until(check: Callable[[], Any], timeout_s: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Sender:
    """Numbers requests and sends them in waves, waiting for every outcome."""

    def __init__(self, client: IntegratorClient, system: str = CITY) -> None:
        self.client = client
        self.system = system
        self.count = 0
        self.outcomes: dict[str, dict[str, Any]] = {}

    def request(self, acting: str, change: str, days_ago: int = 0, **fields: Any) -> dict[str, Any]:
        self.count += 1
        return change_request(
            request_id=f"r{self.count:06d}",
            source_system=self.system,
            acting_organisation=acting,
            effective_date=date.today() - timedelta(days=days_ago),
            change=change,
            **fields,
        )

    def send(
        self, requests: Iterable[dict[str, Any]], timeout_s: float = 60
    ) -> list[dict[str, Any]]:
        requests = list(requests)
        for r in requests:
            self.client.publish(r)
        self.client.flush()
        got = self.client.wait_for(
            [(r["source_system"], r["request_id"]) for r in requests], timeout_s
        )
        result = [got[(r["source_system"], r["request_id"])] for r in requests]
        for r, outcome in zip(requests, result, strict=True):
            self.outcomes[r["request_id"]] = outcome
        return result

    def establish_city(self) -> None:
        specs = city_tree()
        for level in ("CITY", "DISTRICT", "STREET", "COMMUNITY", "UNIT"):
            wave = [
                self.request(
                    s.parent_code or s.code,
                    "EstablishOrganisation",
                    900,
                    code=s.code,
                    name=s.name,
                    kind=s.kind,
                    level=s.level,
                    parent_code=s.parent_code,
                    registration_number=s.registration_number,
                    supervising_body=s.supervising_body,
                )
                for s in specs
                if s.level == level
            ]
            assert all(o["accepted"] for o in self.send(wave)), self.outcomes

    def apply(self, person: Person, organisation: str, days_ago: int = 400) -> dict[str, Any]:
        return self.request(
            organisation,
            "ApplyForMembership",
            days_ago,
            member_citizen_id=person.citizen_id,
            name=person.name,
            ethnicity=person.ethnicity,
            education=person.education,
            occupation=person.occupation,
            phone=person.phone,
            address=person.address,
            organisation_code=organisation,
        )


def crowd(count: int, seed: int = 11) -> list[Person]:
    return people(count, seed=seed)


class AvscDecoder:
    """A downstream system's decoder: the .avsc files and the Avro spec, nothing of ours."""

    def __init__(self) -> None:
        self.by_fingerprint: dict[bytes, tuple[str, Any]] = {}
        for path in sorted((SCHEMAS / "events").glob("*.avsc")):
            source = json.loads(path.read_text(encoding="utf-8"))
            fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(source), "CRC-64-AVRO"))
            self.by_fingerprint[fp] = (
                f"{source['namespace']}.{source['name']}",
                parse_schema(source),
            )

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        assert data[:2] == b"\xc3\x01", "single-object encoding marker"
        name, schema = self.by_fingerprint[data[2:10]]
        return name, schemaless_reader(io.BytesIO(data[10:]), schema, None)


def read_topic(
    settings: Settings, topic: str, until: Callable[[list[Any]], bool], timeout_s: float = 60
) -> list[Any]:
    """All records of a topic from the beginning, until `until(records)` holds."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
    )
    try:
        parts = wait_until(lambda: consumer.partitions_for_topic(topic), 30, f"{topic} metadata")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while not until(records):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: only {len(records)} records")
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def applied_versions(db: Database) -> dict[str, int]:
    return {a: v for a, v in db.query("SELECT aggregate_id, version FROM rm_versions")}


def caused_by(outcomes: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Latest version per aggregate among the events the outcomes name."""
    latest: dict[str, int] = {}
    for outcome in outcomes:
        for c in outcome["caused"]:
            key = str(c["aggregate_id"])
            latest[key] = max(latest.get(key, 0), c["version"])
    return latest


def projections_caught_up(db: Database, latest: dict[str, int]) -> bool:
    applied = applied_versions(db)
    return all(applied.get(a, 0) >= v for a, v in latest.items())
