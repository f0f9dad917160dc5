"""The main job, end to end on the embedded default: a small city is set up and changed
through Kafka exactly as unit systems would do it, then the read models are shown."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from kafka import TopicPartition

from consumers.kafka import consumer
from projections import compliance, queries
from registry.anchors import verify
from registry.city import city_tree, people
from registry.client import IntegratorClient, change_request
from registry.config import Settings
from registry.integrators import register_integrator
from registry.runtime import Backbone, with_broker
from schemas import topics
from schemas.catalog import load_catalog

DEMO_SEAL_BLOCK = 100
CITY_SYSTEM = "city-organisation-dept"
STREET_SYSTEM = "xh-s1-street-office"


def run_demo(
    settings: Settings, *, members: int = 24, fresh: bool = True, out: Callable[[str], None] = print
) -> dict[str, Any]:
    if fresh and settings.data_dir.exists():
        shutil.rmtree(settings.data_dir)
    # Small blocks, so that the demo's few hundred events are sealed (registry.anchors).
    settings = settings.model_copy(update={"anchor_block_size": DEMO_SEAL_BLOCK})
    settings, broker = with_broker(settings)
    out(f"broker: {settings.kafka_bootstrap} ({'local Tansu' if broker else 'configured'})")
    out(
        f"store:  {'PostgreSQL' if settings.uses_postgres else settings.data_dir / 'events.sqlite'}"
    )
    try:
        with Backbone(settings) as backbone:
            register_integrator(backbone.store, CITY_SYSTEM, ["SH"])
            register_integrator(backbone.store, STREET_SYSTEM, ["SH-XH-S1"])
            client = IntegratorClient(settings, key_secret=b"demo-integrator-key")
            try:
                summary = _scenario(client, members, out)
                _wait_for_read_models(backbone, summary["caused"], out)
                _show(backbone, summary, out)
                _show_compliance_and_seals(backbone, out)
                _decode_one_from_topic(settings, out)
            finally:
                client.close()
            if backbone.errors:
                raise RuntimeError(f"a loop failed: {backbone.errors[0]!r}")
            return summary
    finally:
        if broker is not None:
            broker.stop()


def _scenario(client: IntegratorClient, members: int, out: Callable[[str], None]) -> dict[str, Any]:
    today = date.today()
    counter = iter(range(1, 10**6))

    def send_all(requests: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        for request in requests:
            client.publish(request)
        client.flush()
        return client.wait_for([(r["source_system"], r["request_id"]) for r in requests])

    def req(system: str, acting: str, change: str, days_ago: int, **fields: Any) -> dict[str, Any]:
        return change_request(
            request_id=f"{system}-{next(counter):05d}",
            source_system=system,
            acting_organisation=acting,
            effective_date=today - timedelta(days=days_ago),
            change=change,
            **fields,
        )

    outcomes: dict[tuple[str, str], dict[str, Any]] = {}
    org_requests = [
        req(
            CITY_SYSTEM,
            o.parent_code or o.code,
            "EstablishOrganisation",
            800,
            code=o.code,
            name=o.name,
            kind=o.kind,
            level=o.level,
            parent_code=o.parent_code,
            registration_number=o.registration_number,
            supervising_body=o.supervising_body,
        )
        for o in city_tree()
    ]
    # Parents before children: each level waits for the one above it.
    for level in ("CITY", "DISTRICT", "STREET", "COMMUNITY", "UNIT"):
        outcomes |= send_all([r for r in org_requests if r["change"][1]["level"] == level])
    out(f"organisations established: {sum(o['accepted'] for o in outcomes.values())}")

    communities = [o.code for o in city_tree() if o.level in ("COMMUNITY", "UNIT")]
    crowd = people(members)
    home = {p.citizen_id: communities[i % len(communities)] for i, p in enumerate(crowd)}
    applications = [
        req(
            CITY_SYSTEM,
            home[p.citizen_id],
            "ApplyForMembership",
            900,
            member_citizen_id=p.citizen_id,
            name=p.name,
            ethnicity=p.ethnicity,
            education=p.education,
            occupation=p.occupation,
            phone=p.phone,
            address=p.address,
            organisation_code=home[p.citizen_id],
        )
        for p in crowd
    ]
    outcomes |= send_all(applications)
    # The organisation talks with most applicants within the month (the rest show up in
    # the compliance view).
    talks = [
        req(CITY_SYSTEM, home[p.citizen_id], "RecordApplicationTalk", 890,
            member_citizen_id=p.citizen_id)
        for i, p in enumerate(crowd) if i % 4 != 3
    ]  # fmt: skip
    outcomes |= send_all(talks)
    activists = [
        req(CITY_SYSTEM, home[p.citizen_id], "AdmitActivist", 800, member_citizen_id=p.citizen_id)
        for p in crowd[::2]
    ]
    outcomes |= send_all(activists)
    # After a year and more as activists, some become development targets.
    targets = [
        req(
            CITY_SYSTEM,
            home[p.citizen_id],
            "AdmitDevelopmentTarget",
            300,
            member_citizen_id=p.citizen_id,
        )
        for p in crowd[2::4]
    ]
    outcomes |= send_all(targets)

    # A transfer across districts, sent by the city's system; accepted by the receiver.
    mover = crowd[0]
    sender, receiver = home[mover.citizen_id], "SH-PD-S2-C1"
    start = req(
        CITY_SYSTEM,
        sender,
        "StartTransfer",
        20,
        member_citizen_id=mover.citizen_id,
        to_organisation_code=receiver,
        letter_number="SH-2026-0001",
        valid_days=None,
    )
    accept = req(
        CITY_SYSTEM,
        receiver,
        "AcceptTransfer",
        10,
        member_citizen_id=mover.citizen_id,
        letter_number="SH-2026-0001",
    )
    outcomes |= send_all([start])
    outcomes |= send_all([accept])
    # One still in transit: it keeps counting at the sender.
    traveller = crowd[1]
    in_transit = req(
        CITY_SYSTEM,
        home[traveller.citizen_id],
        "StartTransfer",
        5,
        member_citizen_id=traveller.citizen_id,
        to_organisation_code="SH-XH-S1-C1",
        letter_number="SH-2026-0002",
        valid_days=30,
    )
    outcomes |= send_all([in_transit])

    # What integrators get wrong, and what they get back.
    bad_id = req(
        STREET_SYSTEM,
        "SH-XH-S1-C1",
        "ApplyForMembership",
        1,
        member_citizen_id="31010119900101123X",
        name="错号",
        ethnicity="汉族",
        education="本科",
        occupation="教师",
        phone="13900000000",
        address="某路1号",
        organisation_code="SH-XH-S1-C1",
    )
    outsider = crowd[3]  # lives in SH-XH-S2, outside the street office's scope
    out_of_scope = req(
        STREET_SYSTEM,
        home[outsider.citizen_id],
        "AdmitActivist",
        1,
        member_citizen_id=outsider.citizen_id,
    )
    outcomes |= send_all([bad_id, out_of_scope])
    # The same request again: same outcome, nothing applied twice.
    again = send_all([accept])
    # The same request id with another body: refused, the first outcome stands.
    conflicting = dict(accept, effective_date=today - timedelta(days=9))
    client.publish(conflicting)
    client.flush()
    key = (accept["source_system"], accept["request_id"])
    conflict = client.wait_for_count(key, 3)[-1]

    rejected = {k: o for k, o in outcomes.items() if not o["accepted"]}
    out(
        f"requests sent: {len(outcomes)}; accepted: {len(outcomes) - len(rejected)}; "
        f"rejected: {len(rejected)}"
    )
    for (system, request_id), o in sorted(rejected.items()):
        out(
            f"  rejected {system}/{request_id}: {o['code']} - {o['message']} "
            f"{o['offending_values']}"
        )
    repeat = again[(accept["source_system"], accept["request_id"])]
    out(
        f"  re-sent {accept['request_id']}: accepted={repeat['accepted']} (same outcome, "
        f"{len(repeat['caused'])} event(s), not applied again)"
    )
    out(f"  same id, other body {accept['request_id']}: {conflict['code']}")
    caused = [(c["aggregate_id"], c["version"]) for o in outcomes.values() for c in o["caused"]]
    return {
        "outcomes": outcomes,
        "caused": caused,
        "mover": mover,
        "traveller": traveller,
        "home": home,
    }


def _wait_for_read_models(
    backbone: Backbone,
    caused: list[tuple[Any, int]],
    out: Callable[[str], None],
    timeout_s: float = 60,
) -> None:
    latest: dict[str, int] = {}
    for aggregate_id, version in caused:
        latest[str(aggregate_id)] = max(latest.get(str(aggregate_id), 0), version)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = backbone.read_models.query("SELECT aggregate_id, version FROM rm_versions")
        applied = {a: v for a, v in rows}
        if all(applied.get(a, 0) >= v for a, v in latest.items()):
            out(f"read models caught up: {len(latest)} aggregates")
            return
        time.sleep(0.1)
    raise TimeoutError("the projections did not catch up")


def _show(backbone: Backbone, summary: dict[str, Any], out: Callable[[str], None]) -> None:
    db = backbone.read_models
    out("\nRosters per community and unit (formal relationship; in transit counts at sender):")
    for spec in city_tree():
        if spec.level in ("COMMUNITY", "UNIT"):
            rows = queries.roster(db, spec.code)
            names = ", ".join(
                f"{r['name']}({r['stage'][:3]}{'→' if r['in_transit_to'] else ''})" for r in rows
            )
            out(f"  {spec.code:<14} {len(rows):>3}  {names}")
    out("\nRollups:")
    for spec in city_tree():
        if spec.level in ("CITY", "DISTRICT", "STREET"):
            r = queries.rollup(db, spec.code)
            stages = " ".join(f"{k.lower()}={v}" for k, v in r["by_stage"].items() if v)
            out(
                f"  {'  ' * ['CITY', 'DISTRICT', 'STREET'].index(spec.level)}{spec.code:<12} "
                f"total={r['total']:<3} {stages}"
            )
    mover = summary["mover"]
    member_id = _member_id_of(backbone, summary, mover)
    out(f"\nAudit trail of {mover.name} (member {member_id}):")
    for row in queries.member_trail(db, member_id):
        out(
            f"  v{row['version']} {row['event_type']:<28} effective {row['effective_date']} "
            f"recorded {row['recorded_at'][:19]} by {row['source_system']}/{row['request_id']} "
            f"@{row['store_position']}"
        )


def _show_compliance_and_seals(backbone: Backbone, out: Callable[[str], None]) -> None:
    report = compliance.compliance(backbone.read_models, "SH")
    listed = {k: len(v) for k, v in report.items() if isinstance(v, list) and v}
    out(f"\nCompliance views for the city: {listed or 'nothing to report'}")
    late = [f"{r['name']} ({r['organisation_code']})" for r in report["applicants_without_talk"]]
    out(f"  applicants not talked with within a month: {', '.join(late) or 'none'}")
    checked, findings = verify(backbone.store)
    out(
        f"Sealed history: {checked} block(s) of {DEMO_SEAL_BLOCK} store positions on "
        f"registry.anchors; audit findings: {len(findings)}"
    )


def _member_id_of(backbone: Backbone, summary: dict[str, Any], person: Any) -> str:
    from registry.runtime import ingest_context

    return str(ingest_context(backbone.settings).member_ids.for_citizen(person.citizen_id))


def _decode_one_from_topic(settings: Settings, out: Callable[[str], None]) -> None:
    """What a downstream system does: read a record and decode it from the .avsc alone."""
    reader = consumer(settings, group_id=None)
    try:
        tp = TopicPartition(topics.MEMBER_EVENTS, 0)
        reader.assign([tp])
        reader.seek_to_beginning(tp)
        for records in reader.poll(timeout_ms=3000, max_records=1).values():
            name, record = load_catalog().decode(records[0].value)
            headers = {k: v.decode() for k, v in records[0].headers}
            out(
                f"\nFirst record on {tp.topic}[0]: {name} ce_id={headers['ce_id']} "
                f"effective {record['effective_date']}"
            )
    finally:
        reader.close()
