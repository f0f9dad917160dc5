"""The full rebuild at the city's own size, not extrapolated: the generated city
(bench/citygen.py, ~5 events per member) published on the event topics as the relay
publishes it, then `projections/rebuild.py` run over it and timed from start to switch.

`python -m bench.city_rebuild --members 1000000` (issue 7: the 1,000,000-member city,
~5,000,000 events, rebuilt in under 5 minutes). `--baseline` also times kafka-python
consuming and fastavro decoding the same records with nothing behind them, in the same
run (one process; the rebuild loads with one process per core).

The records are what the relay sends for those events: the same schemas (single-object
encoding), keys (the aggregate id, so the same partitions), CloudEvents headers, store
positions and epoch. The live generation is given the stored positions a projector that
had applied everything would hold: they are the rebuild's target (it never asks the
broker where a topic ends). The live generation's tables are otherwise empty, so the
server's cache holds only the new generation (in production it holds both).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import statistics
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench import citygen
from bench.env import bench_env
from bench.memory_growth import rss_tree_mb
from bench.rawkafka import consume, consume_bulk
from consumers.kafka import ensure_topics, producer
from consumers.projector import GROUP_ID, PROJECTED_TOPICS
from projections.database import Database
from projections.decoding import event_decoder
from projections.rebuild import Timings, rebuild
from projections.tables import create_tables
from registry.config import Settings
from schemas import topics
from schemas.catalog import Catalog, load_catalog
from schemas.codec import Writer

SEED = 20250630
# (short event name, key, value, event id, recorded_at, store position)
_Encoded = tuple[str, bytes, bytes, str, str, int]
# (topic, partition) -> (last offset, its record's ce_id)
Ends = dict[tuple[str, int], tuple[int, str]]


@dataclass
class _Publisher:
    """Sends events as the relay does (consumers/relay_reader.py PageReader._outgoing)."""

    settings: Settings
    catalog: Catalog = field(default_factory=load_catalog)
    ends: Ends = field(default_factory=dict)
    sent: int = 0

    def __post_init__(self) -> None:
        self._names = {n.rsplit(".", 1)[-1]: n for n in self.catalog.by_name}
        self._writers: dict[str, tuple[Writer, list[tuple[str, bytes]]]] = {}
        self._kafka = producer(self.settings)

    def encode(self, event: citygen.Event, position: int) -> _Encoded:
        short, record = event
        key = str(record["aggregate_id"]).encode()
        value = self._writer(self._names[short])[0].encode(record)
        return (short, key, value, record["event_id"], record["recorded_at"].isoformat(),
                position)  # fmt: skip

    def send(self, events: Iterable[tuple[citygen.Event, int]]) -> None:
        for event, position in events:
            self.send_encoded(self.encode(event, position))

    def send_encoded(self, encoded: _Encoded) -> None:
        short, key, value, event_id, recorded_at, position = encoded
        fixed = self._writer(self._names[short])[1]
        topic = (topics.ORGANISATION_EVENTS if short.startswith("Organisation")
                 else topics.MEMBER_EVENTS)  # fmt: skip
        headers = [
            *fixed,
            (topics.CE_ID, event_id.encode()),
            (topics.CE_TIME, recorded_at.encode()),
            (topics.CE_SUBJECT, key),
            (topics.POSITION, str(position).encode()),
            (topics.EPOCH, b"1"),
        ]
        future = self._kafka.send(topic, key=key, value=value, headers=headers)
        future.add_callback(self._sent, event_id)
        self.sent += 1

    def _sent(self, event_id: str, metadata: Any) -> None:
        where = (metadata.topic, metadata.partition)
        if metadata.offset > self.ends.get(where, (-1, ""))[0]:
            self.ends[where] = (metadata.offset, event_id)

    def _writer(self, name: str) -> tuple[Writer, list[tuple[str, bytes]]]:
        if name not in self._writers:
            writer = Writer(self.catalog.by_name[name].source)
            self._writers[name] = (
                writer,
                [
                    (topics.CE_SPECVERSION, topics.CE_SPECVERSION_VALUE.encode()),
                    (topics.CE_SOURCE, topics.CE_SOURCE_VALUE.encode()),
                    (topics.CE_TYPE, name.encode()),
                    (topics.CONTENT_TYPE, topics.CONTENT_TYPE_VALUE.encode()),
                    (topics.SCHEMA_FINGERPRINT, writer.fingerprint.hex().encode()),
                ],
            )
        return self._writers[name]

    def close(self) -> Ends:
        self._kafka.flush()
        self._kafka.close(timeout=30)
        return self.ends


def _publish_chunks(
    settings: Settings, shape: citygen.CityShape, chunks: list[int], order: str
) -> tuple[int, Ends]:
    publisher = _Publisher(settings)
    if order == "member":
        publisher.send(citygen.member_events_of_chunks(shape, SEED, chunks))
        return publisher.sent, publisher.close()
    # As the store recorded them: by time, each member's events still in version order
    # (a member's recorded_at may run back: citygen records some events late, and the
    # store records event n + 1 after n), so a member's events lie years apart and
    # nearly every event finds its member applied in an earlier batch. Encoded first
    # (a few hundred bytes each) and sorted in memory.
    timed: list[tuple[str, int, _Encoded]] = []
    latest: dict[Any, str] = {}
    for event, position in citygen.member_events_of_chunks(shape, SEED, chunks):
        encoded = publisher.encode(event, position)
        aggregate = encoded[1]
        latest[aggregate] = max(latest.get(aggregate, encoded[4]), encoded[4])
        timed.append((latest[aggregate], position, encoded))  # position: version order
    latest.clear()
    timed.sort(key=lambda t: t[:2])
    for *_, encoded in timed:
        publisher.send_encoded(encoded)
    return publisher.sent, publisher.close()


def publish_city(
    settings: Settings, members: int, workers: int, order: str = "recorded"
) -> tuple[int, Ends]:
    """The city's events on the topics; (events sent, the last record per partition).
    `order`: "recorded", as the store recorded them (by time: a member's events years
    apart, the order a rebuild meets); "member", each member's events one after the
    other (a rebuild's easiest case: hardly any member is met again in a later batch)."""
    ensure_topics(settings, PROJECTED_TOPICS)
    shape = citygen.CityShape.for_members(members)
    publisher = _Publisher(settings)
    publisher.send((event, position) for position, event
                   in enumerate(citygen.organisation_events(shape), start=1))  # fmt: skip
    sent, ends = publisher.sent, publisher.close()
    chunks = list(range((members + citygen.CHUNK - 1) // citygen.CHUNK))
    plans = [chunks[w::workers] for w in range(workers) if chunks[w::workers]]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(plans), mp_context=context) as pool:
        for count, more in pool.map(_publish_chunks, [settings] * len(plans),
                                    [shape] * len(plans), plans, [order] * len(plans)):  # fmt: skip
            sent += count
            for where, end in more.items():
                if end[0] > ends.get(where, (-1, ""))[0]:
                    ends[where] = end
    return sent, ends


def store_live_positions(settings: Settings, ends: Ends) -> None:
    """The positions a live projector that had applied every record would hold."""
    db = Database(settings)
    try:
        live = db.live_generation()
        create_tables(db, live)
        with db.transaction(generation=live) as cur:
            for (topic, partition), (offset, event_id) in ends.items():
                cur.execute(
                    "INSERT INTO rm_offsets (consumer, topic, kafka_partition, epoch,"
                    " next_offset, last_event_id) VALUES (?, ?, ?, 1, ?, ?)",
                    (GROUP_ID, topic, partition, offset + 1, event_id),
                )
    finally:
        db.close()


def _counts(settings: Settings, generation: int) -> dict[str, int]:
    db = Database(settings)
    try:
        return {table: int(db.query(f"SELECT count(*) FROM {table}", generation=generation)[0][0])
                for table in ("rm_members", "rm_versions", "rm_member_history",
                              "rm_member_timeline", "rm_audit")}  # fmt: skip
    finally:
        db.close()


@dataclass
class CityRebuilt:
    """One rebuild of the published city, timed by step (time.monotonic())."""

    members: int
    events: int
    seconds: float  # from start to switch
    timings: Timings
    began: float
    counts: dict[str, int]

    def report(self) -> str:
        t = self.timings
        assert t.first_record is not None and t.last_loaded is not None
        assert t.finish_started is not None and t.finished is not None and t.analyzed is not None
        load_s = t.last_loaded - t.first_record
        return "\n".join(
            [
                f"rebuild of the {self.members:,}-member city, {self.events:,} events"
                f" ({t.loaded_records + t.caught_up_records:,} applied): {self.seconds:.1f} s from"
                " start to switch",
                f"  start -> first record {t.first_record - self.began:.1f} s; load {load_s:.1f} s"
                f" ({t.loaded_records / load_s:,.0f} events/s); to finish"
                f" {t.finish_started - t.last_loaded:.1f} s; finish (keys, indexes, rollup"
                f" counters) {t.finished - t.finish_started:.1f} s; analyze"
                f" {t.analyzed - t.finished:.1f} s; catch-up and switch"
                f" {(t.switched or self.began + self.seconds) - t.analyzed:.1f} s",
                "  loading workers: " + "; ".join(
                    f"{m:,} members held, written at the end in {w:.1f} s, peak resident"
                    f" {kb / 1024:,.0f} MiB, "
                    + ("stopped at its targets" if reached else "stopped short of its targets")
                    for m, w, kb, reached in zip(t.loaded_members, t.members_written_s,
                                                 t.loader_peak_rss_kb, t.loaders_reached,
                                                 strict=True)
                ),
                f"  rows: {', '.join(f'{k} {v:,}' for k, v in self.counts.items())}",
            ]
        )

    @property
    def complete(self) -> bool:
        # rm_versions: a row per aggregate; rm_audit: a row per event.
        return self.counts["rm_members"] == self.members and self.counts["rm_audit"] == self.events


def timed_rebuild(
    settings: Settings, members: int, events: int, workers: int | None = None
) -> CityRebuilt:
    t = Timings()
    began = time.monotonic()
    generation = rebuild(
        settings, progress=None, idle_s=1.0, drop_after_s=0, workers=workers, timings=t
    )
    seconds = time.monotonic() - began
    return CityRebuilt(members, events, seconds, t, began, _counts(settings, generation))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.city_rebuild",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument(
        "--rebuilds",
        type=int,
        default=1,
        help="rebuilds of the same topics, one after the other (median)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="loading processes (default: the rebuild's own choice)",
    )
    parser.add_argument(
        "--order",
        choices=("recorded", "member"),
        default="recorded",
        help="the events on the topics as the store recorded them (by time, the default)"
        " or member by member (a rebuild's easiest case)",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also time consume + decode of the same records alone",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("projections").setLevel(logging.INFO)  # the finish's steps
    seconds = []
    with bench_env() as env:
        started = time.monotonic()
        events, ends = publish_city(env.settings, args.members, os.cpu_count() or 1,
                                    args.order)
        published_s = time.monotonic() - started
        broker_mb = rss_tree_mb(env.broker.pid) if env.broker and env.broker.pid else float("nan")
        print(
            f"published {events:,} events of {args.members:,} members ({args.order} order)"
            f" in {published_s:.0f} s"
            f" ({events / published_s:,.0f}/s); broker resident {broker_mb:,.0f} MiB",
            flush=True,
        )
        store_live_positions(env.settings, ends)
        if args.baseline:
            decoder = event_decoder(load_catalog())
            raw = consume(
                env.settings,
                PROJECTED_TOPICS,
                expected=events,
                on_record=lambda r: decoder.decode(r.value),
            )
            print(
                f"baseline: consume + decode of {raw.count:,} records alone:"
                f" {raw.seconds:.1f} s ({raw.rate:,.0f}/s), one process",
                flush=True,
            )
            bulk = consume_bulk(env.settings, PROJECTED_TOPICS, events,
                                lambda r: decoder.decode(r.value))  # fmt: skip
            print(
                f"baseline: the same with the rebuild's reader (librdkafka):"
                f" {bulk.seconds:.1f} s ({bulk.rate:,.0f}/s), one process",
                flush=True,
            )
        for _ in range(args.rebuilds):
            rebuilt = timed_rebuild(env.settings, args.members, events, args.workers)
            print(rebuilt.report(), flush=True)
            if not rebuilt.complete:
                print("  MISMATCH: the new generation does not hold every member and event")
                return 1
            seconds.append(rebuilt.seconds)
    if len(seconds) > 1:
        print(
            f"median of {len(seconds)}: {statistics.median(seconds):.1f} s"
            f" ({', '.join(f'{s:.1f}' for s in seconds)})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
