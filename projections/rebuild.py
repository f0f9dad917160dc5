"""Rebuild every read model from the beginning of the event topics into a fresh
generation of tables, then switch queries over to it in one transaction.

The live generation keeps answering queries (and its projector keeps applying) while the
new one is built. The switch happens only when the new generation has reached, for every
partition, at least the position the live one has stored, checked again under an
exclusive lock on the pointer row, which the live projectors hold shared while they
write: no event can be applied to the old generation after the check. The end of a
topic is never asked of the broker (Tansu reports it wrongly, see BROKER.md): the
live generation's stored positions are the target, and the progress bar's total.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from kafka import TopicPartition

from consumers.kafka import consumer, ensure_topics
from consumers.projector import GROUP_ID, POLL_RECORDS, PROJECTED_TOPICS, Projector
from projections.database import POINTER_TABLE, Database, table_name
from projections.tables import create_tables, drop_tables
from registry.config import Settings
from schemas.catalog import Catalog, load_catalog


class RebuildError(RuntimeError):
    pass


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


def rebuild(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    progress: TextIO | None = sys.stderr,
    idle_s: float = 1.0,
    timeout_s: float | None = None,
    drop_after_s: float = 2.0,
    stop: threading.Event | None = None,
) -> int:
    """Builds generation live + 1, switches to it and drops the old one; returns it."""
    db = Database(settings)
    try:
        live = db.live_generation()
        new = live + 1
        drop_tables(db, new)  # what a crashed earlier rebuild may have left
        create_tables(db, new)
        projector = Projector(settings, db, catalog or load_catalog(), generation=new)
        ensure_topics(settings, PROJECTED_TOPICS)
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
            kafka.assign(tps)
            projector._consumer = kafka
            projector.assign(tps)
            _follow(db, projector, kafka, live, new, progress, idle_s, timeout_s, stop)
        finally:
            kafka.close(autocommit=False)
        # Queries that read the pointer just before the switch may still be reading the
        # old tables: give them a moment before the tables go.
        time.sleep(drop_after_s)
        drop_tables(db, live)
        return new
    finally:
        db.close()


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
) -> None:
    started = last_record = last_bar = time.monotonic()
    while True:
        polled = kafka.poll(  # type: ignore[attr-defined]
            timeout_ms=200, max_records=POLL_RECORDS)
        now = time.monotonic()
        if polled:
            projector.process_polled(polled)
            last_record = now
        done = sum(p.next_offset for p in projector.positions.values())
        if progress is not None and now - last_bar > 0.5:
            _bar(progress, new, done, max(done, _target(db, live)))
            last_bar = now
        if now - last_record >= idle_s and try_switch(db, live, new):
            if progress is not None:
                _bar(progress, new, done, done, final=True)
            return
        if stop is not None and stop.is_set():
            raise RebuildError("rebuild stopped before it caught up")
        if timeout_s is not None and now - started > timeout_s:
            raise RebuildError(f"rebuild did not catch up within {timeout_s} s")
