"""Memory as the registry grows: resident memory of each loop's process while it takes a
city from nothing to `--members` members (issue 7: flat, ±10 %, from 100k to 1M).

`python -m bench.memory_growth --members 1000000` publishes that many applications and
a twentieth more (from a child process, so nothing of the publishing stays in a measured
process), then runs the ingest, the relay and the projector one after the other, each in
a process of its own as deployed, from the first record to the last. Each samples its
resident memory (its own and its children's: the relay's reader process) when it has
handled the work of 10 %, 25 %, 50 %, 75 % and 100 % of `--members`; the figure is the
ratio of the sample at 100 % (1M members) to the one at 10 % (100k members). The
twentieth more keeps the loop busy at its 100 % sample as at the others (records
fetched ahead, a batch in hand): compared with the loop idle once the topic is read,
that sample measured how much was in flight, not how the registry's size weighs (the
projector's fell 12 % so, 26 MiB of fetched records given back). The sample once all is
done is reported apart ("end, idle"). Beside each sample, where the measured process's
memory is (`bench.rss.heap_detail`: Python's blocks, objects and arenas, malloc's used,
free and mapped memory), to tell what grows.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

from bench import workload
from bench.env import Env, bench_env, connect
from bench.rss import heap_detail
from bench.timing import Progress, run_until_done
from registry.config import Settings
from registry.heap import keep_heap_flat

MARKS = (0.1, 0.25, 0.5, 0.75, 1.0)
# Published beyond `--members`, as a share of it, so that the 100 % sample is taken busy.
MARGIN = 0.05
# The key of the sample taken once all the work is done.
END = 1 + MARGIN
PUBLISH_CHUNK = 20_000


def rss_tree_mb(pid: int | None = None) -> float:
    """VmRSS of a process and its descendants, in MiB."""
    root = Path(f"/proc/{pid or 'self'}")
    total = 0.0
    try:
        for line in (root / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
        for task in (root / "task").iterdir():
            for child in (task / "children").read_text().split():
                total += rss_tree_mb(int(child))
    except OSError:
        pass  # a child that just ended
    return total


def _publish(settings: Settings, members: int) -> None:
    for start in range(0, members, PUBLISH_CHUNK):
        count = min(PUBLISH_CHUNK, members - start)
        workload.publish(settings, workload.applications(count, "mem", start=start))


Samples = tuple[dict[float, float], dict[float, dict[str, float]]]


def _ingest(settings: Settings, members: int, timeout_s: float) -> Samples:
    keep_heap_flat()  # as a deployed loop's process does (registry/runtime.py)
    from consumers.ingest import Ingest
    from registry.runtime import ingest_context
    from registry.store import open_event_store

    store = open_event_store(settings)
    try:
        ctx = ingest_context(settings)
        ingest = Ingest(settings, store, ctx)
        progress = _progress(members)
        ingest.process_polled = progress.wrap_polled(  # type: ignore[method-assign]
            ingest.process_polled, ingest.settle)
        run_until_done(ingest.run, progress, timeout_s)
        return _by_mark(progress.rss), _by_mark(progress.details)
    finally:
        store.close()


def _relay(settings: Settings, timeout_s: float) -> Samples:
    keep_heap_flat()
    from consumers.kafka import ensure_topics
    from consumers.relay import RELAYED_TOPICS, Relay
    from registry.store import open_event_store
    from schemas.catalog import load_catalog

    store = open_event_store(settings)
    ensure_topics(settings, RELAYED_TOPICS)
    relay = Relay(settings, store, load_catalog())
    try:
        total = store.recorder.max_notification_id() or 0
        rss: dict[float, float] = {}
        details: dict[float, dict[str, float]] = {}
        deadline = time.monotonic() + timeout_s
        # Counted as read, not by the checkpoint, which trails by the rounds in flight.
        passed = 0
        busy_shares = _work_marks()[:-1]  # the last, the end, once all is settled
        while count := relay.run_once():
            passed += count
            for share in busy_shares:
                if share not in rss and passed >= share * total:
                    rss[share], details[share] = rss_tree_mb(), heap_detail()
            if time.monotonic() > deadline:
                raise TimeoutError("the relay did not publish the store in time")
        rss[1.0], details[1.0] = rss_tree_mb(), heap_detail()  # all settled: the end
        return _by_mark(rss), _by_mark(details)
    finally:
        relay.close()
        store.close()


def _projector(settings: Settings, records: int, timeout_s: float) -> Samples:
    keep_heap_flat()
    from consumers.projector import Projector
    from projections.database import Database
    from schemas.catalog import load_catalog

    db = Database(settings)
    try:
        projector = Projector(settings, db, load_catalog())
        progress = _progress(records)
        projector.process_polled = progress.wrap_polled(  # type: ignore[method-assign]
            projector.process_polled)
        run_until_done(projector.run, progress, timeout_s)
        return _by_mark(progress.rss), _by_mark(progress.details)
    finally:
        db.close()


def _progress(total: int) -> Progress:
    """Samples at each mark's share of `total` (which holds the margin beyond the
    members) and at the end, keyed by that share (`_by_mark` turns them into marks)."""
    # The loop's whole process tree, not only its interpreter.
    return Progress(total=total, memory_marks=_work_marks(), measure_rss=rss_tree_mb,
                    measure_detail=heap_detail)


def _work_marks() -> tuple[float, ...]:
    return (*(mark / END for mark in MARKS), 1.0)


def _by_mark(samples: dict[float, Any]) -> dict[float, Any]:
    """Samples keyed by the share of the work they were taken at → by members' mark."""
    return {round(share * END, 6): value for share, value in samples.items()}


def _projected_records(env: Env) -> int:
    """Events the relay put on the member and organisation topics."""
    with connect(env.schema) as conn:
        row = conn.execute(
            "SELECT count(*) FROM registry_events"
            " WHERE topic LIKE 'domain.member:%' OR topic LIKE 'domain.organisation:%'"
        ).fetchone()
    return int(row[0]) if row else 0


def _published(members: int) -> int:
    return members + round(members * MARGIN)


def _label(mark: float) -> str:
    return "end, idle" if mark == END else f"{int(mark * 100)}%"


def _in_child(target: Any, *args: Any) -> Any:
    """Runs target(*args) in a fresh process; returns what it returned."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(target, args)


LOOPS = ("ingest", "relay", "projector")


def measure(members: int, timeout_s: float, until: str = LOOPS[-1]) -> dict[str, Any]:
    with bench_env() as env:
        from registry.runtime import ingest_context
        from registry.store import open_event_store

        store = open_event_store(env.settings)
        try:
            workload.seed_store(store, ingest_context(env.settings), workload.organisations("mem"))
        finally:
            store.close()
        started = time.monotonic()
        _in_child(_publish, env.settings, _published(members))
        published_s = time.monotonic() - started
        result: dict[str, Any] = {"members": members, "publish_s": round(published_s, 1)}
        for name in LOOPS[:LOOPS.index(until) + 1]:
            started = time.monotonic()
            if name == "ingest":
                rss, details = _in_child(_ingest, env.settings, _published(members), timeout_s)
            elif name == "relay":
                rss, details = _in_child(_relay, env.settings, timeout_s)
            else:
                rss, details = _in_child(
                    _projector, env.settings, _projected_records(env), timeout_s)
            result[name] = {
                "seconds": round(time.monotonic() - started, 1),
                "rss_mib": {_label(m): round(v, 1) for m, v in sorted(rss.items())},
                "ratio_100_to_10": round(rss[1.0] / rss[0.1], 3) if 0.1 in rss else None,
                "heap": {_label(m): d for m, d in sorted(details.items())},
            }
            print(name, json.dumps(result[name]), flush=True)
        return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory_growth")
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument(
        "--until", choices=LOOPS, default=LOOPS[-1],
        help="the last loop to run (each needs the ones before it): --until ingest"
             " measures the ingest alone")
    args = parser.parse_args(argv)
    result = measure(args.members, args.timeout, args.until)
    out = Path(__file__).parent / "results" / "memory_growth.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
