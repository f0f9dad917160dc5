"""How big each benchmark is: --quick (CI), --full, and a tiny one for the smoke test."""

from __future__ import annotations

from dataclasses import dataclass

from bench.pacing import DEFAULT_LINGER_MS


@dataclass(frozen=True)
class Sizes:
    name: str
    runs: int
    requests: int  # ingest (batched), and so the relay and projections
    baseline_requests: int  # ingest one request per transaction
    store_aggregates: int  # eventsourcing's own write rate, 100 per save
    e2e_rate: float  # requests per second
    e2e_seconds: float
    city_members: int
    query_calls: int
    asof_calls: int
    statement_timeout_s: int = 60
    stage_timeout_s: float = 600
    # The end-to-end stage's publisher (the integrator) batches this long. Many
    # integrators at low rates would make more, smaller batches, not fewer.
    e2e_linger_ms: int = DEFAULT_LINGER_MS


TINY = Sizes("tiny", 1, 200, 50, 200, 50, 2, 2_000, 10, 10, 30, 60)
QUICK = Sizes("quick", 3, 1_000, 300, 1_000, 200, 5, 10_000, 50, 50, 30, 120)
FULL = Sizes("full", 3, 20_000, 3_000, 20_000, 2_000, 20, 1_000_000, 300, 300, 60, 900)
