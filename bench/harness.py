"""All stages, repeated, into figures beside their baselines."""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from bench.citygen import load_city
from bench.env import bench_env, uptimes_s
from bench.figures import Figure, figure
from bench.machine_speed import python_loop_seconds
from bench.pacing import DEFAULT_LINGER_MS
from bench.sizes import Sizes
from bench.stage_e2e import measure_end_to_end, measure_raw_latency
from bench.stage_ingest import measure_ingest, measure_one_per_transaction, measure_store_writes
from bench.stage_projections import measure_projections, measure_raw_consume
from bench.stage_queries import TIMEOUTS, measure_queries
from bench.stage_rebuild import measure_rebuild, seconds_for_city
from bench.stage_relay import measure_raw_produce, measure_relay, published_records
from bench.stats import median, percentile, quarters
from bench.stolen import StolenTime
from consumers.projector import PROJECTED_TOPICS

log = logging.getLogger("bench")
STAGES = ("ingest", "relay", "projections", "rebuild", "e2e", "queries", "memory")
STAGE_OF_FIGURE = {"ingest": "ingest", "relay": "relay", "projections": "projections",
                   "rebuild": "rebuild", "end to end": "e2e", "queries": "queries",
                   "memory": "memory"}
Samples = dict[str, list[float]]


def _pipeline(sizes: Sizes, samples: Samples, stages: frozenset[str]) -> None:
    """Ingest → relay → projections on one schema and broker, with their baselines; a
    later stage needs the earlier ones' output, so they run (untimed baselines skipped)
    as far as the stages asked for require."""
    with bench_env() as env:
        # eventsourcing's own write rate, taken just before the ingest is timed: the
        # machine's speed moved by up to a third between parts of a run minutes apart
        # (BENCHMARKS.md, session 21), and this ratio was read across them.
        run, store = measure_ingest(
            env, sizes.requests, env.settings.ingest_batch_size, sizes.stage_timeout_s,
            just_before=(lambda: _store_writes(sizes, samples)) if "ingest" in stages else None,
        )
        try:
            samples["ingest"].append(run.rate)
            samples["ingest events"].append(run.event_rate)
            samples["ingest rss 10%"].append(run.rss_mb.get(0.1, float("nan")))
            samples["ingest rss 100%"].append(run.rss_mb.get(1.0, float("nan")))
            if not stages & {"relay", "projections", "memory"}:
                return
            relay_s = measure_relay(env, store, sizes.stage_timeout_s)
        finally:
            store.close()
        records = published_records(env)
        samples["relay"].append(len(records) / relay_s)
        if "relay" in stages:
            samples["raw produce"].append(measure_raw_produce(env, records).rate)
        projected = sum(1 for r in records if r.topic in PROJECTED_TOPICS)
        del records
        if not stages & {"projections", "rebuild", "memory"}:
            return
        if stages & {"projections", "rebuild"}:
            samples["raw consume"].append(measure_raw_consume(env, projected).rate)
            samples["raw consume compiled"].append(
                measure_raw_consume(env, projected, compiled=True).rate)
        progress = measure_projections(env, projected, sizes.stage_timeout_s)
        samples["projections"].append(progress.rate)
        samples["projections rss 10%"].append(progress.rss.get(0.1, float("nan")))
        samples["projections rss 100%"].append(progress.rss.get(1.0, float("nan")))
        if "rebuild" in stages:
            rebuilt = measure_rebuild(env, projected, sizes.stage_timeout_s)
            samples["rebuild"].append(rebuilt.rate)
            samples["rebuild city s"].append(seconds_for_city(rebuilt.rate))


def _baselines(sizes: Sizes, samples: Samples) -> None:
    with bench_env() as env:
        run = measure_one_per_transaction(env, sizes.baseline_requests, sizes.stage_timeout_s)
        samples["ingest 1 per transaction"].append(run.rate)


def _store_writes(sizes: Sizes, samples: Samples) -> None:
    with bench_env(with_broker=False) as env:
        samples["store save x100"].append(measure_store_writes(env, sizes.store_aggregates))


def _end_to_end(sizes: Sizes, samples: Samples) -> None:
    with bench_env() as env:
        run = measure_end_to_end(env, sizes.e2e_rate, sizes.e2e_seconds,
                                 drain_s=max(30.0, sizes.e2e_seconds * 3),
                                 linger_ms=sizes.e2e_linger_ms)
        raw = measure_raw_latency(env, sizes.e2e_rate, min(sizes.e2e_seconds, 10),
                                  linger_ms=sizes.e2e_linger_ms)
    samples["e2e rate"].append(run.rate)
    samples["e2e missing"].append(run.missing)
    checkpoints = run.server_checkpoints
    samples["e2e server checkpoints"].append(float("nan") if checkpoints is None else checkpoints)
    for role, ms in run.cpu_ms.items():
        samples[f"e2e cpu {role}"].append(ms)
    for role, ms in run.core_wait_ms.items():
        samples[f"e2e core wait {role}"].append(ms)
    for name, values in (("outcome", run.outcome_ms), ("roster", run.roster_ms),
                         ("raw", raw.outcome_ms)):
        samples[f"{name} p50"].append(percentile(values, 50))
        samples[f"{name} p99"].append(percentile(values, 99))
    # Where the outcome's time goes, on stderr beside the table (not figures of their own).
    print("end to end, p50 / p99 ms of each hop: " + ", ".join(
        f"{hop} {percentile(values, 50):.0f} / {percentile(values, 99):.0f}"
        for hop, values in zip(("published→recorded (ingest)", "recorded→sent (relay)",
                                "sent→seen (broker, integrator)"), run.hops_ms, strict=True)
        if values
    ), file=sys.stderr)
    # Requests are in the order they were published, at a steady rate: a quarter of the
    # list is a quarter of the paced phase. On the local broker each fetch costs more as
    # its topic grows (BENCHMARKS.md, session 17), and the tail is made late in the run.
    print("end to end, outcome p50 / p99 ms by quarter of the paced phase: " + ", ".join(
        f"{percentile(part, 50):.0f} / {percentile(part, 99):.0f}"
        for part in quarters(run.outcome_ms)
    ) + "; published→recorded (ingest) p50: " + ", ".join(
        f"{percentile(part, 50):.0f}" for part in quarters(run.hops_ms[0])
    ), file=sys.stderr)
    print("end to end, CPU ms per request: " + ", ".join(
        f"{role} {ms:.3f}" for role, ms in run.cpu_ms.items()
    ) + f" (all {sum(run.cpu_ms.values()):.3f}); database checkpoints begun meanwhile:"
      f" {'?' if checkpoints is None else checkpoints}", file=sys.stderr)
    # Beside the CPU: with every core busy, the latency is the queue for them.
    print("end to end, ms per request waiting for a core: " + ", ".join(
        f"{role} {ms:.3f}" for role, ms in run.core_wait_ms.items()
    ), file=sys.stderr)


def _queries(sizes: Sizes, meta: dict[str, Any]) -> list[Figure]:
    with bench_env(with_broker=False) as env:
        city = load_city(env.settings, sizes.city_members)
        meta["city"] = (f"{city.members:,} members ({city.active:,} active,"
                        f" {city.exited:,} exited, {city.in_transit:,} in transit),"
                        f" {city.history_rows:,} history rows, {city.timeline_rows:,}"
                        f" timeline rows, {city.audit_rows:,} audit rows,"
                        f" {city.organisations:,} organisations, generation"
                        f" {city.generation}, loaded in {city.seconds:.1f} s")
        # Every query bounded (libpq reads PGOPTIONS for each new connection).
        os.environ["PGOPTIONS"] = f"-c statement_timeout={sizes.statement_timeout_s * 1000}"
        TIMEOUTS.clear()
        try:
            # One city, `runs` rounds of calls: each round's percentiles are one run.
            runs = [measure_queries(env, city, sizes.query_calls, sizes.asof_calls, seed=5 + r)
                    for r in range(sizes.runs)]
            meta["query calls cut off by the statement timeout"] = len(TIMEOUTS)
        finally:
            os.environ.pop("PGOPTIONS", None)
    figures = []
    for name in runs[0]:
        calls = f"{len(runs[0][name].query_ms)} calls per run"
        for p in (50, 99):
            figures.append(figure(
                "queries", f"{name} p{p} ({calls})", "ms",
                [percentile(r[name].query_ms, p) for r in runs], "count(*) same rows",
                [percentile(r[name].count_ms, p) for r in runs]))
    return figures


def run_all(sizes: Sizes, out: TextIO = sys.stdout, stages: Iterable[str] = STAGES
            ) -> tuple[list[Figure], dict[str, Any]]:
    """The stages asked for (default: all), each repeated `sizes.runs` times (the
    queries: `sizes.runs` calls of each query per run, on one city)."""
    chosen = frozenset(stages)
    unknown = chosen - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; known: {', '.join(STAGES)}")
    started = time.monotonic()
    samples: Samples = defaultdict(list)
    meta: dict[str, Any] = {"sizes": sizes.name, "runs": sizes.runs,
                            "stages": [s for s in STAGES if s in chosen],
                            "seconds up at the start (machine, PostgreSQL)": uptimes_s()}
    # The parts of a run, each wanted or not: (name, wanted, what it runs).
    # The ingest's baseline of one request per transaction just before the pipeline, so
    # that the two are taken a minute apart rather than several.
    parts: list[tuple[str, bool, Callable[[], None]]] = [
        ("baselines", "ingest" in chosen, lambda: _baselines(sizes, samples)),
        ("pipeline", bool(chosen & {"ingest", "relay", "projections", "rebuild", "memory"}),
         lambda: _pipeline(sizes, samples, chosen)),
        ("end to end", "e2e" in chosen, lambda: _end_to_end(sizes, samples)),
    ]
    stolen: dict[str, list[float]] = defaultdict(list)  # per part, % of each run
    speed: dict[str, list[tuple[float, float]]] = defaultdict(list)  # per part, each run
    for r in range(sizes.runs):
        for name, wanted, run_part in parts:
            if not wanted:
                continue
            before = python_loop_seconds()
            out.write(f"run {r + 1}/{sizes.runs}: {name} (python loop {before:.2f} s)\n")
            with StolenTime() as taken:
                run_part()
            stolen[name].append(round(taken.percent, 1))
            speed[name].append((before, python_loop_seconds()))
        out.flush()
    # The host's share of the CPU time of each part of each run (bench/stolen.py).
    meta["cpu % taken by the host (steal), per run"] = dict(stolen)
    # How fast plain Python ran just before and after each (bench/machine_speed.py).
    meta["python loop s before / after each part, per run"] = dict(speed)
    figures = [f for f in _figures(sizes, samples) if STAGE_OF_FIGURE[f.stage] in chosen]
    if "queries" in chosen:
        out.write("queries: loading the city\n")
        out.flush()
        try:
            figures += _queries(sizes, meta)
        except Exception as error:  # the other stages' figures still count
            log.exception("the queries stage failed")
            meta["queries error"] = repr(error)
    meta["seconds"] = round(time.monotonic() - started, 1)
    if samples["raw consume compiled"]:
        meta["projections: consume + decode alone, decoded as the projector does (records/s,"
             " median)"] = round(median(samples["raw consume compiled"]))
    if "e2e" in chosen:
        meta["e2e achieved rate"] = round(median(samples["e2e rate"]), 1)
        meta["e2e integrator linger ms"] = sizes.e2e_linger_ms
        meta["e2e requests without outcome or roster at the end"] = samples["e2e missing"]
        # Beside the latencies: a run a checkpoint fell in had a burst to catch up on.
        meta["e2e database checkpoints begun in each run"] = [
            None if math.isnan(n) else int(n) for n in samples["e2e server checkpoints"]
        ]
        # What each part cost, less swayed by the host than the latencies (bench/cpu_use.py).
        meta["e2e CPU ms per request (median of runs)"] = {
            name.removeprefix("e2e cpu "): round(median(values), 3)
            for name, values in samples.items() if name.startswith("e2e cpu ")
        }
        meta["e2e ms per request waiting for a core (median of runs)"] = {
            name.removeprefix("e2e core wait "): round(median(values), 3)
            for name, values in samples.items() if name.startswith("e2e core wait ")
        }
    return figures, meta


def _figures(sizes: Sizes, s: Samples) -> list[Figure]:
    n = f"{sizes.requests:,} requests"
    e2e = f"at {sizes.e2e_rate:,.0f}/s"
    if sizes.e2e_linger_ms != DEFAULT_LINGER_MS:
        e2e += f", integrator linger {sizes.e2e_linger_ms} ms"
    return [
        figure("ingest", f"requests/s ({n})", "/s", s["ingest"], "1 request per transaction",
               s["ingest 1 per transaction"], ">= 10x"),
        # The store's write rate is events/s (one event per aggregate saved); a request
        # writes about two (its change and its outcome), so events/s is the like unit.
        figure("ingest", "events written/s vs store", "/s", s["ingest events"],
               "store.save(100 aggregates)", s["store save x100"], ">= 0.6x"),
        figure("relay", "records/s", "/s", s["relay"], "kafka-python alone", s["raw produce"],
               ">= 0.7x"),
        figure("projections", "records/s", "/s", s["projections"], "consume+decode alone",
               s["raw consume"], ">= 0.4x"),
        figure("rebuild", "events/s (projections/rebuild.py, all read models)", "/s",
               s["rebuild"], "consume+decode alone", s["raw consume"], ">= 16,667/s"),
        # Topics of one loading batch meet no member twice: the easy case. The city's own
        # rebuild, events in recorded order, is bench/city_rebuild.py.
        figure("rebuild", "extrapolated to 5,000,000 events (no member met twice;"
               " the city itself: python -m bench.city_rebuild)", "s", s["rebuild city s"],
               "consume+decode alone", [5_000_000 / r for r in s["raw consume"]], "< 300 s"),
        figure("end to end", f"request→outcome p50 {e2e}", "ms", s["outcome p50"],
               "Kafka publish→consume", s["raw p50"]),
        figure("end to end", f"request→outcome p99 {e2e}", "ms", s["outcome p99"],
               "Kafka publish→consume", s["raw p99"]),
        figure("end to end", f"request→roster p50 {e2e}", "ms", s["roster p50"],
               "Kafka publish→consume", s["raw p50"]),
        figure("end to end", f"request→roster p99 {e2e}", "ms", s["roster p99"],
               "Kafka publish→consume", s["raw p99"]),
        figure("memory", "ingest RSS at 100% of run", "MiB", s["ingest rss 100%"],
               "at 10% of run", s["ingest rss 10%"]),
        figure("memory", "projections RSS at 100% of run", "MiB", s["projections rss 100%"],
               "at 10% of run", s["projections rss 10%"]),
    ]
