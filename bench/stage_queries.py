"""Stage 5, queries on a big city: a roster page, a district's rollup and a roster as of a
past date, each against `SELECT count(*)` over the same rows."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import psycopg

from bench.citygen import TODAY, Loaded, _org_id
from bench.env import Env, connect
from projections import queries
from projections.database import Database


@dataclass
class QueryTimes:
    query_ms: list[float] = field(default_factory=list)
    count_ms: list[float] = field(default_factory=list)


TIMEOUTS: list[str] = []  # queries cut off by the statement timeout, by name


def _timed(call: Callable[[], object]) -> float:
    """Milliseconds; a query cut off by the statement timeout counts as the timeout."""
    started = time.perf_counter()
    try:
        call()
    except psycopg.errors.QueryCanceled:
        TIMEOUTS.append(getattr(call, "__name__", "query"))
    return (time.perf_counter() - started) * 1000


def measure_queries(env: Env, city: Loaded, calls: int, asof_calls: int,
                    seed: int = 5) -> dict[str, QueryTimes]:
    rng = random.Random(seed)
    db = Database(env.settings)
    results = {"roster page": QueryTimes(), "district rollup": QueryTimes(),
               "roster as of": QueryTimes()}
    past = date(TODAY.year - 5, TODAY.month, 1)
    try:
        with connect(env.schema) as conn:
            def count(sql: str, *params: object) -> Callable[[], object]:
                return lambda: conn.execute(sql, params).fetchone()

            subtree = {
                d: [r[0] for r in conn.execute(
                    "SELECT id FROM rm_organisations WHERE code = %s OR code LIKE %s",
                    (d, d + "-%"),
                ).fetchall()]
                for d in city.districts
            }
            for i in range(calls):
                branch = rng.choice(city.branches)
                times = results["roster page"]
                # Alternate which goes first, so neither always finds a warmer cache.
                pair = [
                    (times.query_ms, lambda b=branch: queries.roster(db, b, limit=100)),
                    (times.count_ms, count(
                        "SELECT count(*) FROM rm_members WHERE organisation_id = %s",
                        _org_id(branch))),
                ]
                for target, call in pair[:: 1 if i % 2 else -1]:
                    target.append(_timed(call))
            for i in range(max(1, calls // 5)):
                district = rng.choice(city.districts)
                times = results["district rollup"]
                pair = [
                    (times.query_ms, lambda d=district: queries.rollup(db, d)),
                    (times.count_ms, count(
                        "SELECT count(*) FROM rm_members WHERE organisation_id = ANY(%s)",
                        subtree[district])),
                ]
                for target, call in pair[:: 1 if i % 2 else -1]:
                    target.append(_timed(call))
            for i in range(asof_calls):
                branch = rng.choice(city.branches)
                times = results["roster as of"]
                pair = [
                    (times.query_ms, lambda b=branch: queries.roster_as_of(db, b, past)),
                    (times.count_ms, count(
                        "SELECT count(*) FROM rm_member_history WHERE effective_date <= %s"
                        " AND attribute IN ('organisation', 'stage')", past.isoformat())),
                ]
                for target, call in pair[:: 1 if i % 2 else -1]:
                    target.append(_timed(call))
    finally:
        db.close()
    return results
