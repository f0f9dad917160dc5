"""`python -m bench --quick` (CI) or `python -m bench --full`; `--stages queries` (or any
comma-separated subset of ingest,relay,projections,rebuild,e2e,queries,memory) runs only those."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace

from bench.harness import STAGES, run_all
from bench.report import write
from bench.sizes import FULL, QUICK


def _stages(value: str) -> tuple[str, ...]:
    chosen = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in chosen if s not in STAGES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown stage(s) {', '.join(unknown) or '(none)'}; known: {','.join(STAGES)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small smoke version (default)")
    size.add_argument("--full", action="store_true", help="the full benchmark")
    parser.add_argument("--runs", type=int, help="repetitions (default 3)")
    parser.add_argument("--city-members", type=int, help="members in the generated city")
    parser.add_argument(
        "--e2e-rate", type=float, metavar="PER_S",
        help="the end-to-end stage's steady request rate (the goal is set at 2,000/s"
             " with --full); a lower one shows the rate at which the latency goals hold")
    parser.add_argument(
        "--e2e-linger-ms", type=int, metavar="MS",
        help="how long the end-to-end stage's integrator batches its requests (default 5,"
             " librdkafka's own; on Tansu, fewer batches cost its fetches less: see"
             " bench/broker_fetch_cost.py); counted in the latency, from the publish call")
    parser.add_argument(
        "--stages", type=_stages, default=STAGES, metavar="LIST",
        help=f"comma-separated stages to run (default all: {','.join(STAGES)}); stages"
             " another needs (ingest before relay) run untimed as far as needed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sizes = FULL if args.full else QUICK
    if args.runs:
        sizes = replace(sizes, runs=args.runs)
    if args.city_members:
        sizes = replace(sizes, city_members=args.city_members)
    if args.e2e_rate:
        sizes = replace(sizes, e2e_rate=args.e2e_rate)
    if args.e2e_linger_ms is not None:
        sizes = replace(sizes, e2e_linger_ms=args.e2e_linger_ms)
    figures, meta = run_all(sizes, sys.stdout, args.stages)
    write(figures, meta, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
