"""Planner statistics for read-model tables that grow faster than autovacuum follows.

Why: of a table never analyzed, PostgreSQL knows its size but not how selective a key
is, so the projector's lookups of a batch's ids (`= ANY(...)`, projections/apply/bulk.py)
are planned as whole-table scans: 36 ms for 200 members' rows in a 320,000-row history
table, 2.5 ms once analyzed. Autovacuum analyzes a new table at its first visit (every
`autovacuum_naptime`, a minute by default) and after each 10 % of growth, so a projector
filling fresh tables (a new deployment replaying the topics, a test, a benchmark) spent
its first minute on such plans, every batch slower than the one before.

A keeper, on its own thread and connection beside the projector, looks every few seconds
for the generation's tables that hold at least MIN_ROWS rows and were never analyzed or
changed by more than half since, and analyzes them, its lock not holding up the
projector's writes. Once a table is large, autovacuum's 10 % comes first (at the server's
own statistics target) and the keeper finds nothing to do.

The keeper samples 3,000 rows a table (SAMPLE_TARGET), not the 30,000 of the default
target: its plans need the tables' sizes and how selective a key is, which that sample
tells as well, and at the default an ANALYZE of an 80,000-row table took ~150 ms against
~15 ms (measured). While the projector kept up with 2,000 requests/s, each round of the
keeper held a core for up to a second, and the requests behind it waited seconds to be
answered on a machine with no idle core (BENCHMARKS.md, session 13).
"""

from __future__ import annotations

import logging
import threading

from projections.database import DATABASE_UNAVAILABLE, Database
from projections.tables import TABLES
from registry.config import Settings

log = logging.getLogger(__name__)

# Below this a whole-table scan costs about what an index would.
MIN_ROWS = 1000
CHECK_EVERY_S = 5.0
# Rows sampled = 300 x this (see the module's doc).
SAMPLE_TARGET = 10

# Table names are written into the statement (not passed as parameters) so that the
# cursor names the generation's own tables, as in every other statement.
_STALE = (
    "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema()"
    " AND relname IN ({names}) AND n_live_tup >= {min_rows}"
    " AND (greatest(last_analyze, last_autoanalyze) IS NULL"
    "      OR n_mod_since_analyze > n_live_tup / 2)"
    " ORDER BY relname"
)


def analyze_stale_tables(db: Database, generation: int | None = None) -> list[str]:
    """Analyzes the generation's (default: the live one's) read-model tables whose
    statistics are missing or stale (PostgreSQL; nothing on SQLite, which plans these
    lookups by its indexes anyway); returns their names."""
    if db.dialect != "postgres":
        return []
    names = ", ".join(f"'{table}'" for table in TABLES)
    with db.transaction(generation=generation) as cur:
        cur.execute(_STALE.format(names=names, min_rows=MIN_ROWS))
        stale = [str(row[0]) for row in cur.fetchall()]
        cur.execute(f"SET LOCAL default_statistics_target = {SAMPLE_TARGET}")
        for table in stale:
            # Already the generation's name (the catalog answered with it).
            cur.execute(f'ANALYZE "{table}"')
    return stale


class StatisticsKeeper:
    """analyze_stale_tables every CHECK_EVERY_S until stopped, on a connection of its own;
    a database that is away is tried again at the next check."""

    def __init__(self, settings: Settings, generation: int | None = None,
                 check_every_s: float = CHECK_EVERY_S) -> None:  # fmt: skip
        self.settings = settings
        self.generation = generation
        self.check_every_s = check_every_s
        self.analyzed: list[str] = []

    def run(self, stop: threading.Event) -> None:
        db: Database | None = None
        try:
            while not stop.wait(self.check_every_s):
                try:
                    if db is None:
                        db = Database(self.settings)
                    done = analyze_stale_tables(db, self.generation)
                except DATABASE_UNAVAILABLE as error:
                    log.info("planner statistics not checked (database away: %s)", error)
                    continue
                except Exception:
                    # Statistics only speed the projector up: it carries on without them.
                    log.exception("planner statistics not kept this time")
                    continue
                if done:
                    self.analyzed.extend(done)
                    log.info("analyzed %s", ", ".join(done))
        finally:
            if db is not None:
                db.close()

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="planner-statistics",
                                  daemon=True)  # fmt: skip
        thread.start()
        return thread
