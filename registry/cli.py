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

    audit = sub.add_parser(
        "audit", help="recompute the sealed blocks of the store and report any difference"
    )
    audit.set_defaults(func=_audit)

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
    send.add_argument(
        "file",
        type=Path,
        help='JSON file (\'-\' for stdin): {"request_id", "source_system", '
        '"acting_organisation", "effective_date", "member_citizen_id" (member changes), '
        '"change": "<Kind>", "fields": {...}}',
    )
    send.add_argument("--key-secret", default="", help="secret for the partition key hash")
    send.add_argument("--timeout", type=float, default=60, help="seconds to wait for the outcome")
    send.set_defaults(func=_send)

    _query_commands(sub)
    return parser


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _query_commands(sub: Any) -> None:
    """Read-model commands: answers as JSON on stdout (reports also as CSV)."""
    roster = sub.add_parser("roster", help="members of an organisation (formal relationship)")
    roster.add_argument("code", help="organisation code")
    roster.add_argument("--limit", type=int, default=100, help="page size (default 100)")
    roster.add_argument("--after", help="member id ending the previous page (its `next`)")
    roster.add_argument("--include-exited", action="store_true", help="list those who left")
    roster.set_defaults(func=_query, query="roster")
    rollup = sub.add_parser("rollup", help="counts for an organisation and everything under it")
    rollup.add_argument("code", help="organisation code")
    rollup.add_argument("--as-of", type=_day, help="count as of this day (YYYY-MM-DD)")
    rollup.set_defaults(func=_query, query="rollup")
    asof = sub.add_parser("as-of", help="roster of an organisation as of a date")
    asof.add_argument("code", help="organisation code")
    asof.add_argument("day", type=_day, help="YYYY-MM-DD")
    asof.add_argument("--subtree", action="store_true", help="the whole subtree")
    asof.add_argument("--limit", type=int, default=100, help="page size (default 100)")
    asof.add_argument("--after", help="member id ending the previous page")
    asof.set_defaults(func=_query, query="as-of")
    trail = sub.add_parser("trail", help="audit trail of a member (by id) or organisation (code)")
    trail.add_argument("aggregate_id", help="opaque member id, organisation id or code")
    trail.add_argument("--limit", type=int, default=100, help="page size (default 100)")
    trail.add_argument("--after", help="the `next` cursor of the previous page")
    trail.set_defaults(func=_query, query="trail")
    where = sub.add_parser("where", help="where a member was on a date")
    where.add_argument("member_id", help="opaque member id")
    where.add_argument("--on", type=_day, required=True, help="YYYY-MM-DD")
    where.set_defaults(func=_query, query="where")
    stats = sub.add_parser("stats", help="period statistics of a level")
    stats.add_argument("code", help="organisation code")
    stats.add_argument("--from", dest="start", type=_day, required=True, help="first day")
    stats.add_argument("--to", dest="end", type=_day, required=True, help="last day")
    stats.set_defaults(func=_query, query="stats")
    report = sub.add_parser("report", help="annual (31 Dec) or half-year (30 Jun) report")
    report.add_argument("code", help="organisation code")
    report.add_argument("--year", type=int, required=True, help="report year")
    report.add_argument("--half", action="store_true", help="half-year report (30 June)")
    report.add_argument("--format", choices=("csv", "json"), default="json")
    report.set_defaults(func=_query, query="report")
    comp = sub.add_parser("compliance", help="compliance views of a level")
    comp.add_argument("code", help="organisation code")
    comp.add_argument("--on", type=_day, help="the day to judge on (default today)")
    comp.set_defaults(func=_query, query="compliance")
    body = sub.add_parser(
        "coordination-body", help="unit organisations in a street's coordination body"
    )
    body.add_argument("code", help="street organisation code")
    body.add_argument("--on", type=_day, help="as of this day (default now)")
    body.set_defaults(func=_query, query="coordination-body")
    serve = sub.add_parser("serve", help="serve the read-only HTTP API (OpenAPI at /openapi.json)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.set_defaults(func=_serve)
    rebuild = sub.add_parser(
        "rebuild", help="rebuild the read models from the topics, then switch over"
    )
    rebuild.add_argument("--quiet", action="store_true", help="no progress bar")
    rebuild.set_defaults(func=_rebuild)


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


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    from registry.anchors import verify
    from registry.store import open_event_store

    store = open_event_store(settings)
    try:
        checked, findings = verify(store)
    finally:
        store.close()
    for finding in findings:
        print(f"block {finding.block}: {finding.problem}")
    print(f"{checked} sealed block(s) checked; {len(findings)} finding(s)")
    return 1 if findings else 0


def _integrator(settings: Settings, args: argparse.Namespace) -> int:
    from registry.integrators import register_integrator
    from registry.store import open_event_store

    store = open_event_store(settings)
    integrator = register_integrator(store, args.source_system, args.scope)
    print(f"{args.source_system}: scope of {len(integrator.scope)} organisation(s)")
    return 0


def _request_from_json(raw: dict[str, Any]) -> dict[str, Any]:
    """{"request_id", "source_system", "acting_organisation", "effective_date",
    "member_citizen_id"?, "change": "<Kind>", "fields": {...}} → a client request."""
    missing = [
        k
        for k in ("request_id", "source_system", "acting_organisation", "effective_date", "change")
        if k not in raw
    ]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if not isinstance(raw["change"], str):
        raise ValueError('"change" is the kind of change, e.g. "AdmitActivist"')
    from registry.client import change_request

    return change_request(
        request_id=str(raw["request_id"]),
        source_system=str(raw["source_system"]),
        acting_organisation=str(raw["acting_organisation"]),
        effective_date=date.fromisoformat(str(raw["effective_date"])),
        change=raw["change"],
        member_citizen_id=raw.get("member_citizen_id"),
        **dict(raw.get("fields") or {}),
    )


def _send(settings: Settings, args: argparse.Namespace) -> int:
    from registry.client import IntegratorClient, RequestNotEncodable

    if settings.kafka_bootstrap is None:
        print(
            "send needs REGISTRY_KAFKA_BOOTSTRAP (the broker the backbone runs on)", file=sys.stderr
        )
        return 2
    text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text(encoding="utf-8")
    try:
        request = _request_from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as error:
        print(f"not a change request: {error}", file=sys.stderr)
        return 2
    client = IntegratorClient(settings, key_secret=args.key_secret.encode())
    try:
        outcome = client.send(request, timeout_s=args.timeout)
    except RequestNotEncodable as error:
        print(f"the request does not fit its schema: {error}", file=sys.stderr)
        return 2
    except TimeoutError as error:
        print(f"no outcome in time: {error}", file=sys.stderr)
        return 3
    finally:
        client.close()
    print(json.dumps(outcome, default=str, ensure_ascii=False, indent=2))
    return 0 if outcome["accepted"] else 1


def _query(settings: Settings, args: argparse.Namespace) -> int:
    from projections import compliance, history, queries, reports, statistics
    from projections.database import Database

    db = Database(settings)
    try:
        result: Any
        if args.query == "roster":
            result = queries.roster_page(
                db, args.code, limit=args.limit, after=args.after,
                include_exited=args.include_exited,
            )  # fmt: skip
        elif args.query == "rollup":
            result = queries.rollup(db, args.code, as_of=args.as_of)
        elif args.query == "as-of":
            result = history.roster_as_of_page(
                db, args.code, args.day, subtree=args.subtree, limit=args.limit, after=args.after
            )
        elif args.query == "where":
            result = history.where(db, args.member_id, args.on)
        elif args.query == "stats":
            result = statistics.statistics(db, args.code, args.start, args.end)
        elif args.query == "compliance":
            result = compliance.compliance(db, args.code, args.on, settings.domain_policy())
        elif args.query == "coordination-body":
            result = queries.coordination_body(db, args.code, args.on)
        elif args.query == "report":
            found = reports.report(
                db, args.code, args.year, half=args.half, policy=settings.domain_policy()
            )
            sys.stdout.write(reports.render(found, args.format))
            return 0
        else:
            result = _trail(db, args)
    except (LookupError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        db.close()
    print(json.dumps(result, default=str, ensure_ascii=False, indent=2))
    return 0


def _trail(db: Any, args: argparse.Namespace) -> Any:
    from projections import queries

    known = db.query(
        "SELECT code FROM rm_organisations WHERE code = ? OR id = ?",
        (args.aggregate_id, args.aggregate_id),
    )
    if known:
        return queries.organisation_trail_page(db, known[0][0], limit=args.limit, after=args.after)
    return queries.trail_page(db, args.aggregate_id, limit=args.limit, after=args.after)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from projections.api import make_server
    from projections.database import Database

    db = Database(settings)
    server = make_server(db, args.host, args.port)
    print(f"read API on http://{args.host}:{server.server_address[1]}/ (OpenAPI: /openapi.json)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        db.close()
    return 0


def _rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from projections.rebuild import RebuildError, rebuild

    if settings.kafka_bootstrap is None:
        print("rebuild reads the topics: set REGISTRY_KAFKA_BOOTSTRAP", file=sys.stderr)
        return 2
    try:
        generation = rebuild(settings, progress=None if args.quiet else sys.stderr)
    except RebuildError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"read models rebuilt: generation {generation} is live")
    return 0


if __name__ == "__main__":
    sys.exit(main())
