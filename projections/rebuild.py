"""Rebuild every read model from the beginning of the event topics into a fresh
generation of tables, then switch queries over to it in one transaction.

The live generation keeps answering queries (and its projector keeps applying) while the
new one is built. The switch happens only when the new generation has reached, for every
partition, at least the position the live one has stored, checked again under an
exclusive lock on the pointer row, which the live projectors hold shared while they
write: no event can be applied to the old generation after the check. The end of a
topic is never asked of the broker (Tansu reports it wrongly, see BROKER.md): the
live generation's stored positions are the target, and the progress bar's total.

A rebuild writes into empty tables that nothing reads yet, which the live projector
cannot assume, so it works in three steps:
1. load: the tables are made bare (primary keys only, no rollup triggers) and filled by
   a few processes, each with a share of the partitions (projections/rebuild_load.py);
2. finish: the secondary indexes are built and the rollup counters counted from the
   rows, once each (projections/tables.py finish_tables);
3. catch up: one projector applies what came since, on the finished tables, until it has
   reached the live generation and the switch succeeds.
A rebuild killed at any step leaves only the new generation's tables behind (never the
pointer moved); run again, it drops them and starts afresh. When the topics' partitions
change under it (Tansu restarted: it makes every topic again with its own partition
count; on Kafka, partitions added), it starts afresh by itself, up to `attempts` times.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from kafka import TopicPartition

from consumers.kafka import consumer, ensure_topics
from consumers.projector import GROUP_ID, POLL_RECORDS, PROJECTED_TOPICS, Projector
from projections import rebuild_load
from projections.database import POINTER_TABLE, Database, table_name
from projections.tables import analyze_tables, create_tables, drop_tables, finish_tables
from registry.config import Settings
from schemas.catalog import Catalog, load_catalog


class RebuildError(RuntimeError):
    pass


class PartitionsChanged(RebuildError):
    """The topics no longer have the partitions the rebuild read: a generation built
    from them would miss what the new ones hold."""


@dataclass
class Timings:
    """When each step of a rebuild ended, by time.monotonic() (for the benchmark)."""

    loaded_records: int = 0
    first_record: float | None = None
    last_loaded: float | None = None
    finish_started: float | None = None
    finished: float | None = None
    analyzed: float | None = None
    # Per loading worker: the members it held in memory, the seconds it took to write
    # them at the end of its load, its peak resident memory, and whether it stopped at
    # its targets (else the catch-up did the rest).
    loaded_members: list[int] = field(default_factory=list)
    members_written_s: list[float] = field(default_factory=list)
    loader_peak_rss_kb: list[int] = field(default_factory=list)
    loaders_reached: list[bool] = field(default_factory=list)
    caught_up_records: int = 0
    last_caught_up: float | None = None
    switched: float | None = None
    # Attempts that started afresh because the partitions changed under them.
    restarts: int = 0

    def start_again(self) -> None:
        """Forgets an abandoned attempt's steps (the figures are the last attempt's)."""
        restarts = self.restarts + 1
        vars(self).update(vars(Timings()))
        self.restarts = restarts


def _target(db: Database, generation: int) -> int:
    rows = db.query(
        "SELECT coalesce(sum(next_offset), 0) FROM rm_offsets WHERE consumer = ?",
        (GROUP_ID,),
        generation=generation,
    )
    return int(rows[0][0])


def _bar(out: TextIO, generation: int, done: int, total: int, final: bool = False) -> None:
    share = min(1.0, done / total) if total else 1.0
    filled = int(share * 30)
    out.write(
        f"\rrebuild generation {generation}: [{'#' * filled}{'.' * (30 - filled)}]"
        f" {done}/{total} records {share:6.1%}"
    )
    if final:
        out.write("\n")
    out.flush()


def try_switch(db: Database, live: int, new: int) -> bool:
    """Makes `new` live if it has caught up with `live` on every partition."""
    with db.transaction(generation=0) as cur:
        lock = " FOR UPDATE" if db.dialect == "postgres" else ""
        cur.execute(f"SELECT generation FROM {POINTER_TABLE} WHERE id = 1{lock}")
        current = int(cur.fetchone()[0])
        if current != live:
            raise RebuildError(f"generation {current} went live during the rebuild of {new}")
        old, fresh = table_name("rm_offsets", live), table_name("rm_offsets", new)
        cur.execute(
            f"SELECT l.epoch, l.next_offset, n.epoch, n.next_offset FROM {old} l"
            f" LEFT JOIN {fresh} n ON n.consumer = l.consumer AND n.topic = l.topic"
            " AND n.kafka_partition = l.kafka_partition WHERE l.consumer = ?",
            (GROUP_ID,),
        )
        for epoch, offset, new_epoch, new_offset in cur.fetchall():
            if new_epoch is None:
                if offset > 0:
                    return False
            elif (new_epoch, new_offset) < (epoch, offset):
                return False
        cur.execute(f"UPDATE {POINTER_TABLE} SET generation = ? WHERE id = 1", (new,))
    return True


def default_workers(db: Database, tps: list[TopicPartition]) -> int:
    """A loading process per core, at most one per partition of the member topic;
    SQLite takes one writer at a time, so one."""
    if db.dialect != "postgres":
        return 1
    member_partitions = sum(1 for tp in tps if tp.topic == PROJECTED_TOPICS[-1])
    return max(1, min(os.cpu_count() or 1, member_partitions))


def rebuild(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    progress: TextIO | None = sys.stderr,
    idle_s: float = 1.0,
    timeout_s: float | None = None,
    drop_after_s: float = 2.0,
    stop: threading.Event | None = None,
    workers: int | None = None,
    load_records: int = rebuild_load.LOAD_RECORDS,
    timings: Timings | None = None,
    attempts: int = 3,
    load_patience_s: float = rebuild_load.LOAD_PATIENCE_S,
) -> int:
    """Builds generation live + 1, switches to it and drops the old one; returns it.
    `workers`: loading processes (default: default_workers); `load_records`: records
    per transaction while loading; `idle_s`: how long the catch-up waits for more
    before it switches; `load_patience_s`: how long a loading process waits for records
    before it leaves what it has not reached to the catch-up; `attempts`: how many
    times it starts afresh when the topics' partitions change under it (then
    PartitionsChanged); `timeout_s` bounds all of them together."""
    timings = timings if timings is not None else Timings()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    db = Database(settings)
    try:
        live = db.live_generation()
        for attempt in range(1, attempts + 1):
            try:
                _build(settings, db, live, catalog, progress, idle_s, deadline, stop,
                       workers, load_records, timings, load_patience_s)  # fmt: skip
                break
            except PartitionsChanged as error:
                if attempt == attempts:
                    raise
                if progress is not None:
                    progress.write(f"\n{error}; starting again (attempt {attempt + 1} of"
                                   f" {attempts})\n")  # fmt: skip
                timings.start_again()
        # Queries that read the pointer just before the switch may still be reading the
        # old tables: give them a moment before the tables go.
        time.sleep(drop_after_s)
        drop_tables(db, live)
        return live + 1
    finally:
        db.close()


def _build(
    settings: Settings,
    db: Database,
    live: int,
    catalog: Catalog | None,
    progress: TextIO | None,
    idle_s: float,
    deadline: float | None,
    stop: threading.Event | None,
    workers: int | None,
    load_records: int,
    timings: Timings,
    load_patience_s: float,
) -> None:
    """One attempt: generation live + 1 built from nothing, caught up, switched to."""
    new = live + 1
    drop_tables(db, new)  # what a crashed or abandoned earlier attempt may have left
    create_tables(db, new, bare=True)
    ensure_topics(settings, PROJECTED_TOPICS)
    tps = _partitions(settings)
    plan = rebuild_load.shares(tps, workers or default_workers(db, tps), new, live,
                               load_patience_s, load_records)  # fmt: skip
    _load(settings, db, live, new, plan, catalog, progress, _remaining(deadline), stop, timings)
    timings.finish_started = time.monotonic()
    helper = Database(settings)
    try:
        finish_tables(db, new, helper=helper)
    finally:
        helper.close()
    timings.finished = time.monotonic()
    analyze_tables(db, new)
    timings.analyzed = time.monotonic()
    projector = Projector(settings, db, catalog or load_catalog(), generation=new)
    kafka = consumer(settings, group_id=None)
    try:
        projector.take(kafka, tps)
        _follow(db, projector, kafka, live, new, progress, idle_s, _remaining(deadline), stop,
                timings, lambda: _check_partitions(settings, tps))  # fmt: skip
    finally:
        kafka.close(autocommit=False)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _partitions(settings: Settings) -> list[TopicPartition]:
    kafka = consumer(settings, group_id=None)
    try:
        tps = []
        for topic in PROJECTED_TOPICS:
            deadline = time.monotonic() + 30
            while (parts := kafka.partitions_for_topic(topic)) is None:
                if time.monotonic() > deadline:
                    raise RebuildError(f"no metadata for {topic}")
                time.sleep(0.1)
            tps.extend(TopicPartition(topic, p) for p in sorted(parts))
        return tps
    finally:
        kafka.close(autocommit=False)


def _check_partitions(settings: Settings, tps: list[TopicPartition]) -> None:
    """Raises PartitionsChanged when the topics no longer have the partitions the rebuild
    read: records in a partition it never read would be missing from its generation
    (Tansu, restarted, makes every topic again with 4 partitions; on Kafka, partitions
    can be added)."""
    now = _partitions(settings)
    if set(now) != set(tps):
        raise PartitionsChanged(
            f"the topics' partitions changed during the rebuild ({len(tps)} -> {len(now)})"
        )


def _load(
    settings: Settings,
    db: Database,
    live: int,
    new: int,
    plan: list[rebuild_load.Share],
    catalog: Catalog | None,
    progress: TextIO | None,
    timeout_s: float | None,
    stop: threading.Event | None,
    timings: Timings,
) -> None:
    total = _target(db, live)

    def tick() -> None:
        if progress is not None:
            done = _target(db, new)
            _bar(progress, new, done, max(done, total))

    try:
        loaded = rebuild_load.load(
            settings, plan, catalog=catalog, tick=tick, timeout_s=timeout_s,
            stopped=lambda: stop is not None and stop.is_set(),
        )  # fmt: skip
    except rebuild_load.LoadError as error:
        raise RebuildError(str(error)) from error
    timings.loaded_records = sum(share.records for share in loaded)
    timings.loaded_members = [share.members for share in loaded]
    timings.members_written_s = [share.written_s for share in loaded]
    timings.loader_peak_rss_kb = [share.peak_rss_kb for share in loaded]
    timings.loaders_reached = [share.reached for share in loaded]
    firsts = [share.first for share in loaded if share.first is not None]
    lasts = [share.last for share in loaded if share.last is not None]
    timings.first_record = min(firsts, default=None)
    timings.last_loaded = max(lasts, default=None)


def _follow(
    db: Database,
    projector: Projector,
    kafka: object,
    live: int,
    new: int,
    progress: TextIO | None,
    idle_s: float,
    timeout_s: float | None,
    stop: threading.Event | None,
    timings: Timings,
    check_partitions: Callable[[], None],
) -> None:
    """Applies what came after the load until idle, then switches when the new
    generation has reached the live one's positions and still covers every partition."""
    started = last_record = last_bar = time.monotonic()
    while True:
        polled = kafka.poll(  # type: ignore[attr-defined]
            timeout_ms=200, max_records=POLL_RECORDS)
        now = time.monotonic()
        if polled:
            projector.process_polled(polled)
            last_record = time.monotonic()
            timings.caught_up_records += sum(len(rs) for rs in polled.values())
            timings.last_caught_up = last_record
        done = sum(p.next_offset for p in projector.positions.values())
        if progress is not None and now - last_bar > 0.5:
            _bar(progress, new, done, max(done, _target(db, live)))
            last_bar = now
        if now - last_record >= idle_s:
            check_partitions()
            if try_switch(db, live, new):
                timings.switched = time.monotonic()
                if progress is not None:
                    _bar(progress, new, done, done, final=True)
                return
        if stop is not None and stop.is_set():
            raise RebuildError("rebuild stopped before it caught up")
        if timeout_s is not None and now - started > timeout_s:
            raise RebuildError(f"rebuild did not catch up within {timeout_s} s")
