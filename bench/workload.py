"""The requests a benchmark sends: the demo city's organisations and applicants with
unique, valid citizen ID numbers, encoded as an integrator would encode them."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from consumers.kafka import ensure_topics, producer
from registry.city import (
    EDUCATION,
    ETHNICITIES,
    GIVEN,
    OCCUPATIONS,
    SURNAMES,
    OrganisationSpec,
    citizen_id,
    city_tree,
)
from registry.client import change_request, encode_request
from registry.config import Settings
from registry.handlers import Batch, Context, ReceivedRecord, handle
from registry.integrators import register_integrator
from registry.store import EventStore
from schemas import topics
from schemas.catalog import Catalog, load_catalog

CITY = "bench-city"
KEY_SECRET = b"bench-partition-key"
BIRTH_BASE = date(1960, 1, 1)


@dataclass(frozen=True)
class Encoded:
    request_id: str
    citizen_id: str | None
    key: bytes
    value: bytes


def branches() -> list[str]:
    return [s.code for s in city_tree() if s.level in ("COMMUNITY", "UNIT")]


def applicant_citizen_id(i: int) -> str:
    """Unique for i < 14,600,000: one birth day per thousand applicants."""
    return citizen_id("310101", BIRTH_BASE + timedelta(days=i // 1000), i % 1000)


def home_branch(i: int) -> str:
    orgs = branches()
    return orgs[i % len(orgs)]


def apply_request(i: int, tag: str, days_ago: int = 30) -> dict[str, Any]:
    rng = random.Random(i)
    organisation = home_branch(i)
    return change_request(
        request_id=f"{tag}-a{i:08d}",
        source_system=CITY,
        acting_organisation=organisation,
        effective_date=date.today() - timedelta(days=days_ago),
        change="ApplyForMembership",
        member_citizen_id=applicant_citizen_id(i),
        name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
        ethnicity=rng.choice(ETHNICITIES),
        education=rng.choice(EDUCATION),
        occupation=rng.choice(OCCUPATIONS),
        phone=f"139{rng.randrange(10**7, 10**8)}",
        address=f"上海市某路{rng.randrange(1, 999)}号",
        organisation_code=organisation,
    )


def admit_activist_request(i: int, tag: str, days_ago: int = 30) -> dict[str, Any]:
    """Applicant i (applied with `apply_request(i, ...)` earlier) becomes an activist."""
    return change_request(
        request_id=f"{tag}-v{i:08d}",
        source_system=CITY,
        acting_organisation=home_branch(i),
        effective_date=date.today() - timedelta(days=days_ago),
        change="AdmitActivist",
        member_citizen_id=applicant_citizen_id(i),
    )


def establish_request(spec: OrganisationSpec, tag: str) -> dict[str, Any]:
    return change_request(
        request_id=f"{tag}-o-{spec.code}",
        source_system=CITY,
        acting_organisation=spec.parent_code or spec.code,
        effective_date=date.today() - timedelta(days=900),
        change="EstablishOrganisation",
        code=spec.code,
        name=spec.name,
        kind=spec.kind,
        level=spec.level,
        parent_code=spec.parent_code,
        registration_number=spec.registration_number,
        supervising_body=spec.supervising_body,
    )


def encode(request: dict[str, Any], catalog: Catalog | None = None) -> Encoded:
    """Keyed as the integrator client keys it (a keyed hash of the member reference)."""
    catalog = catalog or load_catalog()
    reference = request.get("member_citizen_id") or request["acting_organisation"]
    key = hmac.new(KEY_SECRET, reference.encode(), hashlib.sha256).hexdigest().encode()
    return Encoded(
        request["request_id"],
        request.get("member_citizen_id"),
        key,
        encode_request(catalog, request),
    )


def applications(count: int, tag: str, start: int = 0, days_ago: int = 30
                 ) -> Iterator[Encoded]:
    catalog = load_catalog()
    for i in range(start, start + count):
        yield encode(apply_request(i, tag, days_ago), catalog)


# Earlier applicants (seeded into the store before a run) are numbered from here, apart
# from the run's new applicants; applicant_citizen_id keeps both unique.
EARLIER = 10_000_000
EARLIER_DAYS_AGO = 400


def earlier_applications(count: int, tag: str) -> Iterator[Encoded]:
    """Applications a year and more back, for the admissions of `mixed` to act on."""
    return applications(count, tag, start=EARLIER, days_ago=EARLIER_DAYS_AGO)


def mixed(count: int, tag: str, admissions: int) -> Iterator[Encoded]:
    """`count` requests: `admissions` activist admissions of the earlier applicants
    (spread evenly), the rest new applications."""
    catalog = load_catalog()
    admitted = applied = 0
    for k in range(count):
        if admitted < admissions and (k + 1) * admissions >= (admitted + 1) * count:
            yield encode(admit_activist_request(EARLIER + admitted, tag), catalog)
            admitted += 1
        else:
            yield encode(apply_request(applied, tag), catalog)
            applied += 1


def organisations(tag: str) -> list[Encoded]:
    """Parents before children, as the city establishes them."""
    order = ("CITY", "DISTRICT", "STREET", "COMMUNITY", "UNIT")
    specs = sorted(city_tree(), key=lambda s: order.index(s.level))
    return [encode(establish_request(s, tag)) for s in specs]


def seed_store(store: EventStore, ctx: Context, requests: Iterable[Encoded], batch: int = 500
               ) -> int:
    """Handles requests straight into the store (no Kafka), as ingest would; the city's
    integrator is registered first. Returns how many requests were handled."""
    register_integrator(store, CITY, ["SH"])
    count = 0
    current = Batch(store)
    for encoded in requests:
        handle(current, ReceivedRecord(encoded.key, encoded.value, f"seed/0@1/{count}"), ctx)
        count += 1
        if count % batch == 0:
            store.events.put(current.events)
            current = Batch(store)
    if current.events:
        store.events.put(current.events)
    return count


def publish(settings: Settings, requests: Iterable[Encoded]) -> dict[int, int]:
    """Sends every request to registry.change-requests; returns the last offset per
    partition (the broker's own end offsets cannot be trusted on Tansu)."""
    ensure_topics(settings, [topics.CHANGE_REQUESTS])
    kafka = producer(settings)
    try:
        futures = [
            kafka.send(topics.CHANGE_REQUESTS, key=r.key, value=r.value) for r in requests
        ]
        kafka.flush()
        last: dict[int, int] = {}
        for future in futures:
            metadata = future.get(timeout=60)
            last[metadata.partition] = max(last.get(metadata.partition, -1), metadata.offset)
        return last
    finally:
        kafka.close(timeout=5)
