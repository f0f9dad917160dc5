"""The `registry` command."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from registry.config import Settings, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # kafka-python logs every dropped connection as an error; the loops retry and
        # report what matters themselves.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        settings = load_settings(args.config, data_dir=args.data_dir)
    except ValidationError as error:
        print(f"configuration error:\n{error}", file=sys.stderr)
        return 2
    return int(args.func(settings, args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="registry",
        description="Membership registry backbone: change requests in, Avro events out, "
        "rosters and audit trails kept. Configuration: REGISTRY_* environment variables "
        "or --config FILE.toml (see README).",
    )
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--data-dir", type=Path, help="folder for SQLite files and local keys")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the main job: a small city through Kafka, end to end")
    demo.add_argument("--members", type=int, default=24, help="people who apply (default 24)")
    demo.add_argument("--keep", action="store_true", help="keep the data folder's earlier content")
    demo.set_defaults(func=_demo)

    run = sub.add_parser("run", help="run the loops until interrupted (Ctrl-C)")
    run.add_argument(
        "--loops",
        default="ingest,relay,projections",
        help="comma-separated: ingest, relay, projections (default: all three)",
    )
    run.set_defaults(func=_run)

    broker = sub.add_parser("broker", help="run a local Tansu broker in the foreground")
    broker.add_argument("--port", type=int, default=9092, help="port to listen on (default 9092)")
    broker.set_defaults(func=_broker)

    integrator = sub.add_parser("integrator", help="register a unit system and its scope")
    integrator.add_argument("source_system", help="the unit system's name")
    integrator.add_argument(
        "--scope",
        action="append",
        required=True,
        metavar="CODE",
        help="organisation code it may act for, with its subtree (repeatable)",
    )
    integrator.set_defaults(func=_integrator)

    send = sub.add_parser("send", help="publish a change request (JSON) and wait for its outcome")
    send.add_argument("file", type=Path, help="JSON file with the request ('-' for stdin)")
    send.add_argument("--key-secret", default="", help="secret for the partition key hash")
    send.add_argument("--timeout", type=float, default=60, help="seconds to wait for the outcome")
    send.set_defaults(func=_send)

    for name, helptext in (
        ("roster", "members of an organisation (formal relationship)"),
        ("rollup", "counts for an organisation and everything under it"),
    ):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("code", help="organisation code")
        q.set_defaults(func=_query, query=name)
    asof = sub.add_parser("as-of", help="roster of an organisation as of a date")
    asof.add_argument("code", help="organisation code")
    asof.add_argument("day", type=date.fromisoformat, help="YYYY-MM-DD")
    asof.set_defaults(func=_query, query="as-of")
    trail = sub.add_parser("trail", help="audit trail of a member or organisation (by id)")
    trail.add_argument("aggregate_id", help="opaque member id or organisation id")
    trail.set_defaults(func=_query, query="trail")
    return parser


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from registry.demo import run_demo

    if args.data_dir is None:
        settings = settings.model_copy(update={"data_dir": Path(".data/demo")})
    run_demo(settings, members=args.members, fresh=not args.keep)
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from registry.runtime import Backbone, with_broker

    loops = tuple(x.strip() for x in args.loops.split(",") if x.strip())
    unknown = set(loops) - {"ingest", "relay", "projections"}
    if unknown:
        print(f"unknown loop(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    settings, broker = with_broker(settings)
    print(f"running {', '.join(loops)} against {settings.kafka_bootstrap}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        with Backbone(settings, loops=loops) as backbone:
            try:
                while not stopped.wait(0.5):
                    if backbone.errors:
                        return 1
            except KeyboardInterrupt:
                pass
    finally:
        if broker is not None:
            broker.stop()
    return 0


def _broker(settings: Settings, args: argparse.Namespace) -> int:
    from registry.broker import LocalBroker

    with LocalBroker(args.port) as broker:
        print(f"local broker on {broker.bootstrap}; Ctrl-C stops it (its data goes with it)")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


def _integrator(settings: Settings, args: argparse.Namespace) -> int:
    from registry.integrators import register_integrator
    from registry.store import open_event_store

    store = open_event_store(settings)
    integrator = register_integrator(store, args.source_system, args.scope)
    print(f"{args.source_system}: scope of {len(integrator.scope)} organisation(s)")
    return 0


def _send(settings: Settings, args: argparse.Namespace) -> int:
    from registry.client import IntegratorClient

    if settings.kafka_bootstrap is None:
        print(
            "send needs REGISTRY_KAFKA_BOOTSTRAP (the broker the backbone runs on)", file=sys.stderr
        )
        return 2
    text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text(encoding="utf-8")
    raw = json.loads(text)
    request = {
        **raw,
        "effective_date": date.fromisoformat(raw["effective_date"]),
        "change": (
            f"registry.requests.{raw['change']['kind']}",
            {k: v for k, v in raw["change"].items() if k != "kind"},
        ),
    }
    client = IntegratorClient(settings, key_secret=args.key_secret.encode())
    try:
        outcome = client.send(request, timeout_s=args.timeout)
    finally:
        client.close()
    print(json.dumps(outcome, default=str, ensure_ascii=False, indent=2))
    return 0 if outcome["accepted"] else 1


def _query(settings: Settings, args: argparse.Namespace) -> int:
    from projections import queries
    from projections.database import Database

    db = Database(settings)
    try:
        result: Any
        if args.query == "roster":
            result = queries.roster(db, args.code, limit=10_000)
        elif args.query == "rollup":
            result = queries.rollup(db, args.code)
        elif args.query == "as-of":
            result = queries.roster_as_of(db, args.code, args.day)
        else:
            result = queries.member_trail(db, args.aggregate_id, limit=10_000)
    except queries.UnknownOrganisation as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        db.close()
    print(json.dumps(result, default=str, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
