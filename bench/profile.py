"""Where ingest, relay and projections spend their time: cProfile of each loop's own
thread during one pipeline run. `python -m bench.profile [--requests N] [--top K]`."""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from bench import stage_ingest, stage_projections, timing
from bench.env import bench_env
from bench.stage_relay import measure_relay, published_records
from consumers.projector import PROJECTED_TOPICS
from consumers.relay_reader import PROFILE_ENV

_run_until_done = timing.run_until_done


def _profiled(profiles: list[cProfile.Profile]) -> Callable[..., None]:
    def run_until_done(run: Callable[[threading.Event], None], *args: object) -> None:
        profile = cProfile.Profile()
        profiles.append(profile)
        _run_until_done(lambda stop: profile.runcall(run, stop), *args)  # type: ignore[arg-type]

    return run_until_done


def _top(profile: cProfile.Profile, top: int) -> str:
    return _top_of(pstats.Stats(profile), top)


def _top_of(stats: pstats.Stats, top: int) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    profiles: list[cProfile.Profile] = []
    stage_ingest.run_until_done = _profiled(profiles)  # type: ignore[attr-defined]
    stage_projections.run_until_done = _profiled(profiles)  # type: ignore[attr-defined]
    with bench_env() as env:
        run, store = stage_ingest.measure_ingest(env, args.requests, 500, 600)
        print(f"== ingest ({run.rate:,.0f} requests/s under the profiler)")
        print(_top(profiles[0], args.top))
        relay_profile = cProfile.Profile()
        # The relay reads and encodes in a process of its own, profiled by itself.
        reader_stats = Path(tempfile.mkdtemp(prefix="relay_reader_")) / "reader.prof"
        os.environ[PROFILE_ENV] = str(reader_stats)
        try:
            seconds = relay_profile.runcall(measure_relay, env, store, 600)
        finally:
            del os.environ[PROFILE_ENV]
            store.close()
        records = published_records(env)
        print(f"== relay ({len(records) / seconds:,.0f} records/s under the profiler)")
        print(_top(relay_profile, args.top))
        if reader_stats.exists():
            print("== relay's reader process")
            print(_top_of(pstats.Stats(str(reader_stats)), args.top))
        projected = sum(1 for r in records if r.topic in PROJECTED_TOPICS)
        progress = stage_projections.measure_projections(env, projected, 600)
        print(f"== projections ({progress.rate:,.0f} records/s under the profiler)")
        print(_top(profiles[1], args.top))


if __name__ == "__main__":
    main()
