"""The load phase of a rebuild: the topics applied into the new generation's bare tables
(primary keys only, no rollup triggers: projections/tables.py), by several processes,
each with a share of the partitions.

Why processes: one process tops out at one core for Kafka decoding and the apply's
Python, and the server's work per event is then idle half the time; with a share each,
both cores are busy. Partitions are independent: members are keyed by member id, so a
partition holds every event of its members, in order, and member rows copy organisation
ids as text without reading the organisations (the rollup counters, the only thing that
walks the organisation tree, are counted once after the load). Organisation events are
spread the same way.

Workers read with librdkafka (consumers/bulk_reader.py), not kafka-python: record
parsing in Python was a quarter of a worker's time.

Each worker applies with the live projector's own code (Projector.process_polled): the
same handlers, the same version gate, the positions stored in the transaction that
writes their rows; but it holds its members in memory for the whole load and writes
their rows, versions and timelines once at its end (projections/apply/loading.py): in
the order the topics hold events, nearly every batch meets its members again, and
reading them back was most of a rebuild's time. A worker killed halfway leaves a
generation that is not complete; the rebuild that is run again starts it afresh
(projections/rebuild.py).

A worker stops when each of its partitions has reached the position the live generation
had stored when it started (the end of a topic is never asked of the broker); at the
first record of a new relay epoch (the broker lost its log and the relay published the
store again: that log's members may sit in another worker's partitions, and two
workers' rows of one member would collide), which it leaves unapplied; or when nothing
came for `patience_s` (a target it cannot reach). What it did not apply, the rebuild's
catch-up does.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import queue
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kafka import TopicPartition

from consumers.bulk_reader import BulkReader
from consumers.collector import collector_paused
from consumers.projector import GROUP_ID, Projector, epoch_and_position
from projections.apply.loading import LoadingMembers
from projections.database import Database
from registry.config import Settings
from schemas.catalog import Catalog, load_catalog

log = logging.getLogger(__name__)

# Records per transaction while loading. Bigger than the live projector's polls: a
# batch's cost is mostly per statement, and nothing waits for a load's rows to appear.
LOAD_RECORDS = 25000
# How long a worker waits for records before it leaves its targets to the catch-up. Not
# the catch-up's idle second: on a slow day a 4.3 GB in-memory Tansu answered a
# worker's fetch only after more than a second, the worker stopped at 235,087 of its
# ~575,000 members, and the catch-up (one projector, on indexed tables) took 853 s for
# the rest (bench.city_rebuild, 2026-11-27). Waiting longer costs only a rebuild whose
# targets cannot be reached.
LOAD_PATIENCE_S = 30.0


class LoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class Share:
    """One worker's partitions of the generation being built."""

    generation: int
    live: int
    partitions: tuple[tuple[str, int], ...]
    patience_s: float
    poll_records: int = LOAD_RECORDS


@dataclass(frozen=True)
class Loaded:
    """What a worker applied; `first` and `last` record batches by time.monotonic(),
    which on Linux is one clock for every process of the machine."""

    records: int
    first: float | None
    last: float | None
    members: int = 0  # held in memory, written at the end of the load
    written_s: float = 0.0  # writing them
    peak_rss_kb: int = 0  # the worker's peak resident memory
    # Whether it stopped at its targets; if not (a new epoch, nothing for `patience_s`,
    # or stopped), the catch-up applies the rest.
    reached: bool = False


def _peak_rss_kb() -> int:
    # ru_maxrss is in kilobytes on Linux (bytes on macOS, where nothing measures this).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _targets(db: Database, live: int, tps: Sequence[TopicPartition]) -> dict[Any, tuple[int, int]]:
    rows = db.query(
        "SELECT topic, kafka_partition, epoch, next_offset FROM rm_offsets WHERE consumer = ?",
        (GROUP_ID,),
        generation=live,
    )
    stored = {TopicPartition(t, p): (int(e), int(n)) for t, p, e, n in rows}
    return {tp: stored.get(tp, (0, 0)) for tp in tps}


def load_share(
    settings: Settings,
    share: Share,
    *,
    catalog: Catalog | None = None,
    stopped: Callable[[], bool] = lambda: False,
) -> Loaded:
    """Applies the share's partitions into its generation from the positions stored
    there (none: the start)."""
    db = Database(settings)
    try:
        if db.dialect == "postgres":
            with db.transaction(generation=share.generation) as cur:
                # A server crash may lose the last few commits, and the positions in
                # them with them: nothing a commit needs to wait for the disk for.
                cur.execute("SET synchronous_commit TO off")
        members = LoadingMembers()
        projector = Projector(
            settings, db, catalog or load_catalog(), generation=share.generation,
            make_tables=False, apply=members.apply_events, committed=members.committed,
        )  # fmt: skip
        tps = [TopicPartition(topic, p) for topic, p in share.partitions]
        targets = _targets(db, share.live, tps)
        kafka = BulkReader(settings)
        try:
            projector.take(kafka, tps)
            loaded = _apply_until_caught_up(projector, kafka, share, targets, stopped)
        finally:
            kafka.close(autocommit=False)
        if stopped():
            return loaded
        held = len(members)
        writing = time.monotonic()
        with db.transaction(generation=share.generation) as cur:
            members.write(cur)
        last = time.monotonic()
        return replace(loaded, members=held, last=last, written_s=last - writing,
                       peak_rss_kb=_peak_rss_kb())  # fmt: skip
    finally:
        gc.unfreeze()  # frozen by the load; a load of one share runs in the caller's process
        db.close()


def _apply_until_caught_up(
    projector: Projector,
    kafka: Any,
    share: Share,
    targets: dict[Any, tuple[int, int]],
    stopped: Callable[[], bool],
) -> Loaded:
    records, first, last = 0, None, None
    quiet_since = time.monotonic()
    # The relay epoch the load reads: the live generation's (its targets), or if it has
    # none, the first record's. Every worker stops at a later one, whichever of its
    # partitions brings it first.
    epoch = max((e for e, n in targets.values() if n > 0), default=None)
    while not stopped():
        # The cycle collector stays off for a poll and its batch, and what is left
        # afterwards (the members held, their history) is put out of its sight: none of
        # it is in a reference cycle, and each full collection walked every member held
        # so far (49 of them in a 300,000-member load, 8 s of a worker's 48:
        # gc.callbacks, 2026-11-26). Reference counting still frees what goes. The
        # price: a cycle a batch leaves as garbage stays until the worker exits.
        with collector_paused():
            polled = kafka.poll(timeout_ms=200, max_records=share.poll_records)
            if polled:
                if epoch is None:
                    epoch = epoch_and_position(next(iter(polled.values()))[0])[0]
                if _later_epoch(polled, epoch):
                    log.warning("loading %s: records of a relay epoch after %d (the broker"
                                " lost its log); the catch-up applies them",
                                share.partitions, epoch)  # fmt: skip
                    break
                started = time.monotonic()
                first = started if first is None else first
                projector.process_polled(polled)
                records += sum(len(rs) for rs in polled.values())
                last = quiet_since = time.monotonic()
            del polled
            gc.freeze()
        positions = projector.positions
        if all((positions[tp].epoch, positions[tp].next_offset) >= target
               for tp, target in targets.items()):  # fmt: skip
            return Loaded(records, first, last, reached=True)
        if time.monotonic() - quiet_since >= share.patience_s:
            log.warning("loading %s: nothing came for %.0f s, short of the live"
                        " generation's positions; the catch-up applies the rest",
                        share.partitions, share.patience_s)  # fmt: skip
            break
    return Loaded(records, first, last)


def _later_epoch(polled: dict[Any, list[Any]], epoch: int) -> bool:
    """Whether the poll brings a record of a relay epoch after `epoch` (epochs only grow
    along a log: each partition's last record tells)."""
    return any(epoch_and_position(records[-1])[0] > epoch for records in polled.values())


# -- the worker processes -----------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """A rebuild killed (kill -9) must not leave its workers writing on: Linux kills
    them with it; elsewhere they notice the parent gone between batches."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # gone before the line above
        os._exit(1)


def _worker(settings: Settings, share: Share, parent: int, stop: Any, results: Any) -> None:
    _die_with_parent(parent)
    try:
        loaded = load_share(
            settings, share, stopped=lambda: stop.is_set() or os.getppid() != parent
        )
    except BaseException:
        results.put((share.partitions, None, traceback.format_exc()))
        return
    results.put((share.partitions, loaded, None))


def shares(
    tps: Sequence[TopicPartition],
    workers: int,
    generation: int,
    live: int,
    patience_s: float = LOAD_PATIENCE_S,
    poll_records: int = LOAD_RECORDS,
) -> list[Share]:
    """Each topic's partitions dealt out in turn, so every worker gets its part of the
    member topic (nearly all the events)."""
    dealt: list[list[tuple[str, int]]] = [[] for _ in range(workers)]
    by_topic: dict[str, list[int]] = {}
    for tp in tps:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    turn = 0
    for topic in sorted(by_topic, key=lambda t: -len(by_topic[t])):
        for partition in sorted(by_topic[topic]):
            dealt[turn % workers].append((topic, partition))
            turn += 1
    return [Share(generation, live, tuple(d), patience_s, poll_records) for d in dealt if d]


def load(
    settings: Settings,
    plan: Sequence[Share],
    *,
    catalog: Catalog | None = None,
    stopped: Callable[[], bool] = lambda: False,
    tick: Callable[[], None] = lambda: None,
    timeout_s: float | None = None,
) -> list[Loaded]:
    """Runs the shares, each in a process of its own (one share: in this process), until
    all are done; `tick` is called about twice a second meanwhile (a progress bar)."""
    if len(plan) == 1:
        return [load_share(settings, plan[0], catalog=catalog, stopped=stopped)]
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    results: Any = context.Queue()
    processes = [
        context.Process(target=_worker, args=(settings, share, os.getpid(), stop, results),
                        name=f"rebuild-load-{i}", daemon=True)
        for i, share in enumerate(plan)
    ]  # fmt: skip
    for process in processes:
        process.start()
    started = time.monotonic()
    done: dict[tuple[tuple[str, int], ...], Loaded] = {}
    try:
        while len(done) < len(plan):
            # Every worker that exits has sent its answer first: one that has exited
            # with none after a last wait died (killed, out of memory).
            exited = sum(p.exitcode is not None for p in processes)
            try:
                partitions, loaded, error = results.get(timeout=0.5 if exited == 0 else 5)
            except queue.Empty:
                if exited > len(done):
                    raise LoadError("a rebuild worker died") from None
            else:
                if error is not None:
                    raise LoadError(f"a rebuild worker failed:\n{error}")
                done[partitions] = loaded
            tick()
            if stopped():
                raise LoadError("the rebuild was stopped while loading")
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                raise LoadError(f"the load did not finish within {timeout_s} s")
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    return [done[share.partitions] for share in plan]
