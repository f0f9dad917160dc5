"""Stage 5, queries on a big city, as the read API calls them: a roster page
(queries.roster_page, 100 rows), a district's rollup (queries.rollup) and a roster page as
of a date three years back (history.roster_as_of_page, 100 rows), each against
`SELECT count(*)` over the same rows of the same generation's tables."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg

from bench.citygen import Loaded, org_id
from bench.env import Env, connect
from projections import history, queries
from projections.database import Database, table_name
from projections.subtree import subtree_ids

PAGE = 100
AS_OF_YEARS_BACK = 3


@dataclass
class QueryTimes:
    query_ms: list[float] = field(default_factory=list)
    count_ms: list[float] = field(default_factory=list)


TIMEOUTS: list[str] = []  # queries cut off by the statement timeout, by name


def _timed(name: str, call: Callable[[], object]) -> float:
    """Milliseconds; a query cut off by the statement timeout counts as the timeout."""
    started = time.perf_counter()
    try:
        call()
    except psycopg.errors.QueryCanceled:
        TIMEOUTS.append(name)
    return (time.perf_counter() - started) * 1000


def measure_queries(env: Env, city: Loaded, calls: int, asof_calls: int,
                    seed: int = 5) -> dict[str, QueryTimes]:
    rng = random.Random(seed)
    db = Database(env.settings)
    past = city.today - timedelta(days=365 * AS_OF_YEARS_BACK)
    members = table_name("rm_members", city.generation)
    timeline = table_name("rm_member_timeline", city.generation)
    results = {"roster page": QueryTimes(), "district rollup": QueryTimes(),
               "roster as of": QueryTimes()}
    try:
        with connect(env.schema) as conn:
            def count(sql: str, *params: object) -> Callable[[], object]:
                return lambda: conn.execute(sql, params).fetchone()

            def pair(name: str, query: Callable[[], object], baseline: Callable[[], object],
                     i: int) -> None:
                times = results[name]
                calls_ = [(times.query_ms, query), (times.count_ms, baseline)]
                # Alternate which goes first, so neither always finds a warmer cache.
                for target, call in calls_[:: 1 if i % 2 else -1]:
                    target.append(_timed(name, call))

            subtree = {d: sorted(subtree_ids(db, str(org_id(d)))) for d in city.districts}
            for i in range(calls):
                branch = rng.choice(city.branches)
                pair("roster page",
                     lambda b=branch: queries.roster_page(db, b, limit=PAGE),
                     count(f"SELECT count(*) FROM {members} WHERE organisation_id = %s"
                           " AND status = 'ACTIVE'", str(org_id(branch))), i)
            for i in range(max(1, calls // 5)):
                district = rng.choice(city.districts)
                pair("district rollup",
                     lambda d=district: queries.rollup(db, d),
                     count(f"SELECT count(*) FROM {members} WHERE organisation_id = ANY(%s)"
                           " AND status = 'ACTIVE'", subtree[district]), i)
            for i in range(asof_calls):
                branch = rng.choice(city.branches)
                pair("roster as of",
                     lambda b=branch: history.roster_as_of_page(db, b, past, limit=PAGE),
                     count(f"SELECT count(*) FROM {timeline} WHERE organisation_id = %s"
                           " AND valid_from <= %s AND valid_to > %s AND status = 'ACTIVE'",
                           str(org_id(branch)), past.isoformat(), past.isoformat()), i)
    finally:
        db.close()
    return results
