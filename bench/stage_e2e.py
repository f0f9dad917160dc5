"""Stage 4, end to end at a steady rate: request published → outcome seen by the
integrator, and → member in the read models. Baseline: the same rate through Kafka alone
(publish → consume, nothing in between)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import psycopg

from bench import workload
from bench.backbone_process import BackboneProcess
from bench.cpu_use import core_wait_seconds, cpu_seconds, per_request_ms
from bench.env import Env, connect
from bench.observers import OutcomeWatcher, RosterWatcher
from bench.pacing import numbered_records, paced_publish
from bench.rawkafka import create_topics
from consumers.kafka import ensure_topics
from consumers.relay import RELAYED_TOPICS
from registry.runtime import ingest_context
from registry.store import open_event_store
from schemas import topics

RAW_TOPIC = "bench.raw.latency"


@dataclass(frozen=True)
class LatencyRun:
    sent: int
    rate: float
    outcome_ms: list[float]
    roster_ms: list[float]
    missing: int
    # Per request, ms: published → recorded by the ingest, recorded → sent by the relay,
    # sent → seen by the integrator (empty for the Kafka-alone baseline).
    hops_ms: tuple[list[float], list[float], list[float]] = ([], [], [])
    # Per role (ingest, relay, projections, broker, postgres, integrator: this process's
    # publisher and observers), CPU ms per request over the paced phase and its drain.
    cpu_ms: dict[str, float] = field(default_factory=dict)
    # Checkpoints the database server began over the same time (None: not known).
    server_checkpoints: int | None = None
    # Per role, ms per request its threads spent waiting for a core over the same time.
    core_wait_ms: dict[str, float] = field(default_factory=dict)


def server_checkpoints() -> int | None:
    """How many checkpoints the server has begun since its statistics were reset. A
    checkpoint's end (its files synced) and the full pages written after its start took
    the loops' time in bursts that the outcomes felt for seconds (BENCHMARKS.md, session
    13), so a run's latency is read beside how many fell within it."""
    with connect() as conn:
        for query in (
            "SELECT num_timed + num_requested FROM pg_stat_checkpointer",  # PostgreSQL 17+
            "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter",
        ):
            try:
                row = conn.execute(query).fetchone()
            except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
                continue
            return int(row[0]) if row else None
    return None


def _wait(check: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def measure_end_to_end(env: Env, rate: float, seconds: float, drain_s: float, *,
                       linger_ms: int, warmup: int = 20) -> LatencyRun:
    settings = env.settings
    store = open_event_store(settings)
    ctx = ingest_context(settings)
    workload.seed_store(store, ctx, workload.organisations("e2e"))
    store.close()
    ensure_topics(settings, [topics.CHANGE_REQUESTS, *RELAYED_TOPICS])
    outcomes = OutcomeWatcher(settings)
    roster = RosterWatcher(env.schema)
    member_of: dict[str, str] = {}
    sent_at: dict[str, float] = {}

    def prepared(start: int, count: int) -> list[tuple[str, bytes, bytes]]:
        """Encoded before the paced phase: an integrator's own encoding is not the
        backbone's latency, and done meanwhile it took CPU from the loops measured."""
        items = []
        for encoded in workload.applications(count, "e2e", start=start):
            member = ctx.member_ids.for_citizen(encoded.citizen_id or "")
            member_of[encoded.request_id] = str(member)
            items.append((encoded.request_id, encoded.key, encoded.value))
        return items

    def note(request_id: str, at: float) -> None:
        roster.expect(member_of[request_id])
        sent_at[request_id] = at

    warmup_items = prepared(0, warmup)
    paced_items = prepared(warmup, int(rate * seconds))
    with BackboneProcess(settings, limit_s=seconds + drain_s + 180) as backbone:
        roles = {**backbone.pids, "integrator": os.getpid()}
        if env.broker is not None and env.broker.pid is not None:
            roles["broker"] = env.broker.pid
        outcomes.start()
        roster.start()
        try:
            paced_publish(settings, topics.CHANGE_REQUESTS, iter(warmup_items), warmup, 1.0,
                          note, linger_ms)
            if not _wait(lambda: len(outcomes.seen) >= warmup and not roster.pending, 120):
                raise TimeoutError("the backbone did not answer the warm-up requests")
            sent_at.clear()
            cpu_before = cpu_seconds(roles)
            waits_before = core_wait_seconds(roles)
            checkpoints_before = server_checkpoints()
            sent, achieved = paced_publish(
                settings, topics.CHANGE_REQUESTS, iter(paced_items), rate, seconds, note,
                linger_ms,
            )
            # Counts, not a walk of every request: this runs every 50 ms beside the loops.
            _wait(lambda: len(outcomes.seen) >= warmup + sent and not roster.pending, drain_s)
            cpu_ms = per_request_ms(cpu_before, cpu_seconds(roles), sent)
            core_wait_ms = per_request_ms(waits_before, core_wait_seconds(roles), sent)
            checkpoints_after = server_checkpoints()
        finally:
            outcomes.stop.set()
            roster.stop.set()
            outcomes.join(timeout=10)
            roster.join(timeout=10)
    outcome_ms = [(outcomes.seen[r] - t) * 1000 for r, t in sent_at.items() if r in outcomes.seen]
    roster_ms = [
        (roster.seen[member_of[r]] - t) * 1000
        for r, t in sent_at.items()
        if member_of[r] in roster.seen
    ]
    missing = len(sent_at) - min(len(outcome_ms), len(roster_ms))
    hops: tuple[list[float], list[float], list[float]] = ([], [], [])
    stamps = outcomes.stamps()
    for r, t in sent_at.items():
        if r in stamps:
            recorded, relayed = stamps[r]
            hops[0].append((recorded - t) * 1000)
            hops[1].append((relayed - recorded) * 1000)
            hops[2].append((outcomes.seen[r] - relayed) * 1000)
    checkpoints = (None if checkpoints_before is None or checkpoints_after is None
                   else checkpoints_after - checkpoints_before)
    return LatencyRun(sent, achieved, outcome_ms, roster_ms, missing, hops, cpu_ms,
                      checkpoints, core_wait_ms)


def measure_raw_latency(env: Env, rate: float, seconds: float, *, linger_ms: int
                        ) -> LatencyRun:  # fmt: skip
    """Publish → consume through the broker alone, at the same rate."""
    settings = env.settings
    create_topics(settings, [RAW_TOPIC])
    watcher = OutcomeWatcher(settings, topic=RAW_TOPIC, decode=False)
    sent_at: dict[str, float] = {}
    watcher.start()
    try:
        watcher.ready.wait(30)
        sent, achieved = paced_publish(settings, RAW_TOPIC, numbered_records(int(rate * seconds)),
                                       rate, seconds, sent_at.__setitem__, linger_ms)
        _wait(lambda: len(watcher.seen) >= sent, 30)
    finally:
        watcher.stop.set()
        watcher.join(timeout=10)
    latencies = [(watcher.seen[m] - t) * 1000 for m, t in sent_at.items() if m in watcher.seen]
    return LatencyRun(sent, achieved, latencies, latencies, sent - len(latencies))
