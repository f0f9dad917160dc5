"""A read-only HTTP API over the read models, standard library only.

Routes live in one table; the OpenAPI 3.1 document is generated from it (served at
/openapi.json, checked in at docs/openapi.json and kept in sync by a test), so the
description cannot drift from what the server does. Errors are JSON with a clear message:
an unknown organisation is a 404 naming the code, a bad parameter a 400 naming it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from projections import compliance, history, queries, reports, statistics
from projections.database import Database

API_VERSION = "1.0.0"


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.details = details


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "string", "integer", "boolean" or "date"
    description: str
    required: bool = False
    where: str = "query"
    default: Any = None
    choices: tuple[str, ...] = ()

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = (
            {"type": "string", "format": "date"} if self.kind == "date" else {"type": self.kind}
        )
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.default is not None:
            schema["default"] = self.default
        return schema

    def parse(self, raw: str | None) -> Any:
        if raw is None or raw == "":
            if self.required:
                raise ApiError(HTTPStatus.BAD_REQUEST, f"parameter {self.name!r} is required",
                               parameter=self.name)  # fmt: skip
            return self.default
        try:
            if self.kind == "date":
                return date.fromisoformat(raw)
            if self.kind == "integer":
                return int(raw)
            if self.kind == "boolean":
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(raw)
                return raw.lower() in ("true", "1")
        except ValueError:
            expected = {"date": "a date YYYY-MM-DD", "integer": "an integer",
                        "boolean": "true or false"}[self.kind]  # fmt: skip
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                f"parameter {self.name!r} must be {expected}, got {raw!r}",
                parameter=self.name,
            ) from None
        if self.choices and raw not in self.choices:
            raise ApiError(HTTPStatus.BAD_REQUEST,
                           f"parameter {self.name!r} must be one of {', '.join(self.choices)}",
                           parameter=self.name)  # fmt: skip
        return raw


@dataclass(frozen=True)
class Route:
    path: str
    operation_id: str
    summary: str
    handler: Callable[..., Any]
    params: tuple[Param, ...] = ()
    tag: str = "read models"
    pattern: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))


CODE = Param("code", "string", "Organisation code, e.g. SH-XH-S1.", True, "path")
MEMBER = Param("member_id", "string", "Opaque member id (UUID).", True, "path")
LIMIT = Param("limit", "integer", f"Page size, at most {queries.MAX_PAGE}.", default=100)
AFTER = Param("after", "string", "The `next` value of the previous page.")


def _roster(db: Database, code: str, limit: int, after: str | None, include_exited: bool) -> Any:
    return queries.roster_page(db, code, limit=limit, after=after, include_exited=include_exited)


def _as_of(db: Database, code: str, on: date, subtree: bool, limit: int, after: str | None) -> Any:
    return history.roster_as_of_page(db, code, on, subtree=subtree, limit=limit, after=after)


def _statistics(db: Database, code: str, start: date, end: date) -> Any:
    try:
        return statistics.statistics(db, code, start, end)
    except statistics.BadPeriod as error:
        raise ApiError(HTTPStatus.BAD_REQUEST, str(error), parameter="to") from None


def _report(db: Database, code: str, year: int, half: bool) -> Any:
    return reports.report(db, code, year, half=half)


ROUTES: tuple[Route, ...] = (
    Route("/organisations/{code}", "getOrganisation", "One organisation.",
          lambda db, code: queries.organisation(db, code), (CODE,)),
    Route("/organisations/{code}/roster", "getRoster",
          "Current roster (formal relationship; in-transit members count at the sender), "
          "by name, paged.", _roster,
          (CODE, LIMIT, AFTER, Param("include_exited", "boolean",
                                     "Also list members who left, with their status.",
                                     default=False))),
    Route("/organisations/{code}/rollup", "getRollup",
          "Counts for the organisation and its subtree by stage, sex, age band, ethnicity, "
          "education, occupation and year joined; now, or as of a date.",
          lambda db, code, as_of: queries.rollup(db, code, as_of=as_of),
          (CODE, Param("as_of", "date", "Count as of this day (effective dates)."))),
    Route("/organisations/{code}/roster-as-of", "getRosterAsOf",
          "Roster on a past day by effective dates, of the organisation or its whole subtree.",
          _as_of,
          (CODE, Param("date", "date", "The day.", True),
           Param("subtree", "boolean", "The whole subtree (tree of that day).", default=False),
           LIMIT, AFTER)),
    Route("/organisations/{code}/trail", "getOrganisationTrail",
          "Audit trail of the organisation and of members while it held them, in recorded "
          "order, paged.",
          lambda db, code, limit, after: queries.organisation_trail_page(
              db, code, limit=limit, after=after),
          (CODE, LIMIT, AFTER)),
    Route("/organisations/{code}/statistics", "getStatistics",
          "Admissions, conversions, exits, transfers in and out, organisation counts for a "
          "period (both days included).", _statistics,
          (CODE, Param("from", "date", "First day.", True),
           Param("to", "date", "Last day.", True))),
    Route("/organisations/{code}/compliance", "getCompliance",
          "Units needing an organisation, transfers past validity, mobile members not placed, "
          "probation past its end, applicants without a talk in time, admissions without the "
          "community's opinion, admissions given despite a recent transfer.",
          lambda db, code, on: compliance.compliance(db, code, on),
          (CODE, Param("on", "date", "The day to judge on (default today)."))),
    Route("/organisations/{code}/coordination-body", "getCoordinationBody",
          "Unit organisations in a street's coordination body (党建工作协调议事机构), now or "
          "as of a date.",
          lambda db, code, on: queries.coordination_body(db, code, on),
          (CODE, Param("on", "date", "As of this day (effective dates); default now."))),
    Route("/organisations/{code}/reports/{year}", "getReport",
          "Annual (31 December) or half-year (30 June) report.", _report,
          (CODE, Param("year", "integer", "Report year.", True, "path"),
           Param("half", "boolean", "Half-year report.", default=False))),
    Route("/members/{member_id}", "getMember", "A member's current state.",
          lambda db, member_id: queries.member(db, member_id), (MEMBER,)),
    Route("/members/{member_id}/where", "getMemberWhere",
          "Where the member was on a day: formal organisation, stage, standing, transit, "
          "placement, community.",
          lambda db, member_id, date: history.where(db, member_id, date),
          (MEMBER, Param("date", "date", "The day.", True))),
    Route("/members/{member_id}/trail", "getMemberTrail",
          "Audit trail in the order the store recorded it (by version), paged.",
          lambda db, member_id, limit, after: queries.trail_page(
              db, member_id, limit=limit, after=after),
          (MEMBER, LIMIT, AFTER)),
)  # fmt: skip


def openapi() -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths[route.path] = {
            "get": {
                "operationId": route.operation_id,
                "summary": route.summary,
                "tags": [route.tag],
                "parameters": [
                    {
                        "name": p.name,
                        "in": p.where,
                        "required": p.required or p.where == "path",
                        "description": p.description,
                        "schema": p.schema(),
                    }
                    for p in route.params
                ],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "400": {
                        "description": "A bad parameter, named in the message.",
                        "content": {"application/json": {"schema": error}},
                    },
                    "404": {
                        "description": "Unknown organisation or member, named.",
                        "content": {"application/json": {"schema": error}},
                    },
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Membership registry read API",
            "version": API_VERSION,
            "description": "Read-only: rosters, rollups, history as of a date, audit trails, "
            "statistics and compliance views of the read models.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string", "description": "HTTP reason phrase."},
                        "message": {"type": "string"},
                        "parameter": {"type": "string", "description": "The bad parameter."},
                        "code": {"type": "string", "description": "The unknown code."},
                    },
                }
            }
        },
    }


class ReadApi:
    """Dispatches a path and query string to a route; one database, one query at a time
    (a read API for people and systems, not a bulk export)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()

    def handle(self, target: str) -> tuple[HTTPStatus, Any]:
        parts = urlsplit(target)
        if parts.path == "/openapi.json":
            return HTTPStatus.OK, openapi()
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            for route in ROUTES:
                match = route.pattern.match(parts.path)
                if match is None:
                    continue
                found = match.groupdict()
                args = [
                    p.parse(found.get(p.name) if p.where == "path" else query.get(p.name))
                    for p in route.params
                ]
                with self._lock:
                    return HTTPStatus.OK, route.handler(self.db, *args)
            raise ApiError(HTTPStatus.NOT_FOUND, f"no route for {parts.path}")
        except ApiError as error:
            return error.status, self._error(error.status, str(error), **error.details)
        except queries.UnknownOrganisation as error:
            return HTTPStatus.NOT_FOUND, self._error(
                HTTPStatus.NOT_FOUND, str(error), code=error.code
            )
        except queries.BadCursor as error:
            return HTTPStatus.BAD_REQUEST, self._error(
                HTTPStatus.BAD_REQUEST, str(error), parameter="after"
            )
        except queries.UnknownMember as error:
            return HTTPStatus.NOT_FOUND, self._error(HTTPStatus.NOT_FOUND, str(error))

    @staticmethod
    def _error(status: HTTPStatus, message: str, **details: Any) -> dict[str, Any]:
        return {"error": status.phrase, "message": message, **details}


def make_server(db: Database, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    api = ReadApi(db)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = api.handle(self.path)
            data = json.dumps(body, ensure_ascii=False, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet by default
            pass

    return ThreadingHTTPServer((host, port), Handler)


def write_openapi(path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps(openapi(), ensure_ascii=False, indent=2) + "\n")
