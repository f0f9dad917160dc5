"""The read API over HTTP (a real server on a free port), and its OpenAPI document."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from projections.api import ROUTES, make_server, openapi
from projections.database import Database
from tests.unit.projection_events import Feed, db_fixture, mid, oid  # noqa: F401

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


@pytest.fixture
def base_url(db: Database) -> Iterator[str]:
    feed = Feed(db)
    feed.city()
    feed.full_member("甲", "XH-S1-C1")
    feed.applicant("乙", "XH-S1-C1")
    feed.apply("OrganisationCoordinationUnitJoined", oid("XH-S1"), date(2024, 1, 1),
               unit_organisation_id=oid("PD-S1-U1"))  # fmt: skip
    server = make_server(db, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.headers["Content-Type"].startswith("application/json")
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_every_route_answers(base_url: str) -> None:
    member = mid("甲")
    status, roster = get(f"{base_url}/organisations/XH-S1-C1/roster?limit=1")
    assert status == 200 and len(roster["items"]) == 1 and roster["next"]
    _, rest = get(f"{base_url}/organisations/XH-S1-C1/roster?limit=1&after={roster['next']}")
    assert len(rest["items"]) == 1 and rest["next"] is None
    _, rollup = get(f"{base_url}/organisations/XH/rollup?as_of=2025-12-31")
    assert rollup["by_stage"]["FULL"] == 1 and rollup["total"] == 2
    _, as_of = get(f"{base_url}/organisations/XH/roster-as-of?date=2021-04-01&subtree=true")
    assert [m["name"] for m in as_of["items"]] == ["乙", "甲"]
    _, where = get(f"{base_url}/members/{member}/where?date=2022-01-01")
    assert (where["organisation_code"], where["stage"]) == ("XH-S1-C1", "ACTIVIST")
    _, trail = get(f"{base_url}/members/{member}/trail?limit=2")
    assert [t["version"] for t in trail["items"]] == [1, 2] and trail["next"]
    _, more = get(f"{base_url}/members/{member}/trail?limit=10&after={trail['next']}")
    assert [t["version"] for t in more["items"]] == [3, 4, 5]
    _, org_trail = get(f"{base_url}/organisations/XH-S1-C1/trail")
    assert org_trail["items"][0]["event_type"] == "OrganisationEstablished"
    _, stats = get(f"{base_url}/organisations/SH/statistics?from=2023-01-01&to=2023-12-31")
    assert stats["admissions"] == 1
    status, views = get(f"{base_url}/organisations/SH/compliance?on={date(2025, 1, 1)}")
    assert status == 200 and [a["name"] for a in views["applicants_without_talk"]] == ["乙"]
    _, body = get(f"{base_url}/organisations/XH-S1/coordination-body")
    assert [u["code"] for u in body["units"]] == ["PD-S1-U1"]
    _, body = get(f"{base_url}/organisations/XH-S1/coordination-body?on=2023-12-31")
    assert body["units"] == []
    _, report = get(f"{base_url}/organisations/SH/reports/2024?half=true")
    assert report["as_of"] == "2024-06-30" and report["movements"]["conversions"] == 1
    _, one = get(f"{base_url}/members/{member}")
    assert one["stage"] == "FULL"


def test_errors_name_what_is_wrong(base_url: str) -> None:
    status, body = get(f"{base_url}/organisations/NOPE/roster")
    assert status == 404 and body["code"] == "NOPE" and "NOPE" in body["message"]
    status, body = get(f"{base_url}/organisations/SH/rollup?as_of=2025-13-01")
    assert status == 400 and body["parameter"] == "as_of" and "as_of" in body["message"]
    status, body = get(f"{base_url}/organisations/SH/statistics?from=2025-01-01")
    assert status == 400 and body["parameter"] == "to"
    status, body = get(f"{base_url}/organisations/SH/statistics?from=2025-02-01&to=2025-01-01")
    assert status == 400
    status, body = get(f"{base_url}/organisations/SH/roster?limit=many")
    assert status == 400 and body["parameter"] == "limit"
    status, body = get(f"{base_url}/members/nobody/where?date=2025-01-01")
    assert status == 404 and "nobody" in body["message"]
    status, body = get(f"{base_url}/nothing-here")
    assert status == 404 and body["error"] == "Not Found"


def test_openapi_is_served_and_checked_in(base_url: str) -> None:
    status, served = get(f"{base_url}/openapi.json")
    assert status == 200 and served == openapi()
    assert served["openapi"] == "3.1.0"
    assert set(served["paths"]) == {r.path for r in ROUTES}
    assert json.loads(DOC.read_text(encoding="utf-8")) == openapi(), (
        "docs/openapi.json is stale: run python -c 'from projections.api import "
        'write_openapi; write_openapi("docs/openapi.json")\''
    )


def test_a_bad_page_cursor_is_a_400(base_url: str) -> None:
    status, body = get(f"{base_url}/members/{mid('甲')}/trail?after=garbage")
    assert status == 400 and body["parameter"] == "after"
