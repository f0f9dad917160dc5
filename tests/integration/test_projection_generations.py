"""Rebuilding the read models while the live projector runs, and two projectors sharing
the partitions of one consumer group: the read models end up exact either way."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition

from consumers import projector as projector_module
from consumers.bulk_reader import BulkReader
from consumers.kafka import consumer, ensure_topics
from consumers.projector import PROJECTED_TOPICS, Projector
from projections import queries
from projections.database import Database, prefix, table_name
from projections.rebuild import Timings, rebuild, try_switch
from projections.tables import TABLES, create_tables, drop_tables
from registry.broker import LocalBroker
from registry.client import IntegratorClient
from registry.config import Settings
from registry.integrators import register_integrator
from registry.runtime import Backbone
from schemas.catalog import load_catalog
from tests.conftest import make_settings
from tests.integration.helpers import (
    CITY,
    Sender,
    caused_by,
    crowd,
    projections_caught_up,
    wait_until,
)

COMPARED = [t for t in TABLES if t not in ("rm_offsets", "rm_undecodable")]


Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(db: Database) -> Snapshot:
    return {
        table: sorted((tuple(r) for r in db.query(f"SELECT * FROM {table}")), key=repr)
        for table in COMPARED
    }


def index_shapes(db: Database, generation: int) -> set[str]:
    """Every index and key of a generation's tables (PostgreSQL), generation prefix
    taken out: a rebuild must leave its tables keyed and indexed as a live read model."""
    if db.dialect != "postgres":
        return set()
    rows = db.query(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        " AND starts_with(tablename, ?)",
        (prefix(generation) + "rm_",),
    )
    return {row[0].replace(f" {prefix(generation)}rm_", " rm_")
            .replace(f".{prefix(generation)}rm_", ".rm_") for row in rows}  # fmt: skip


def _members(sender: Sender, people: list[Any], home: str) -> None:
    assert all(o["accepted"] for o in sender.send(sender.apply(p, home) for p in people))
    admitted = sender.send(
        sender.request(home, "AdmitActivist", 100, member_citizen_id=p.citizen_id)
        for p in people[: len(people) // 2]
    )
    assert all(o["accepted"] for o in admitted)


def test_rebuild_equals_the_live_models_and_takes_over(settings: Settings) -> None:
    with Backbone(settings) as backbone:
        register_integrator(backbone.store, CITY, ["SH"])
        client = IntegratorClient(settings, key_secret=b"test")
        try:
            sender = Sender(client)
            sender.establish_city()
            people = crowd(12)
            _members(sender, people[:8], "SH-XH-S1-C1")
            db = backbone.read_models
            wait_until(
                lambda: projections_caught_up(db, caused_by(sender.outcomes.values())),
                what="projections",
            )
            before = snapshot(db)
            live_indexes = index_shapes(db, 0)
            progress = io.StringIO()
            generation = rebuild(settings, progress=progress, drop_after_s=0.2, timeout_s=90)
            assert generation == 1 and db.live_generation() == 1
            assert "rebuild generation 1" in progress.getvalue()
            assert snapshot(db) == before
            assert index_shapes(db, 1) == live_indexes
            # The old generation is gone; the live projector now writes to the new one.
            assert db.query("SELECT count(*) FROM rm_versions", generation=1) != [(0,)]
            _members(sender, people[8:], "SH-XH-S1-C2")
            wait_until(
                lambda: projections_caught_up(db, caused_by(sender.outcomes.values())),
                what="projections after the switch",
            )
            assert queries.rollup(db, "SH")["total"] == 12
            assert len(snapshot(db)["rm_audit"]) == sum(
                len(o["caused"]) for o in sender.outcomes.values()
            )
            gone = table_name("rm_members", 0)
            # Either engine's "no such table".
            with pytest.raises(Exception, match="rm_members"):
                db.query(f"SELECT count(*) FROM {gone}", generation=0)
        finally:
            client.close()
        assert backbone.errors == []


def test_two_projectors_in_one_group_count_each_event_once(settings: Settings) -> None:
    with Backbone(settings, loops=("ingest", "relay")) as backbone:
        register_integrator(backbone.store, CITY, ["SH"])
        client = IntegratorClient(settings, key_secret=b"test")
        stop = threading.Event()
        errors: list[BaseException] = []
        dbs = [Database(settings), Database(settings)]
        catalog = load_catalog()
        projectors = [Projector(settings, d, catalog) for d in dbs]

        def run(projector: Projector) -> None:
            try:
                projector.run(stop)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=run, args=(p,), daemon=True) for p in projectors]
        try:
            threads[0].start()
            sender = Sender(client)
            sender.establish_city()
            people = crowd(30)
            _members(sender, people[:15], "SH-XH-S1-C1")
            wait_until(lambda: projectors[0].applied > 0, what="first projector")
            threads[1].start()  # joins mid-way: the group rebalances
            wait_until(lambda: projectors[1].positions, timeout_s=30, what="the rebalance")
            for start in range(15, 30, 5):
                _members(sender, people[start : start + 5], "SH-PD-S1-C1")
            reader = dbs[0]
            wait_until(
                lambda: projections_caught_up(reader, caused_by(sender.outcomes.values())),
                timeout_s=90,
                what="both projectors",
            )
            wait_until(lambda: projectors[1].applied > 0, timeout_s=30, what="second projector")
            caused = [c for o in sender.outcomes.values() for c in o["caused"]]
            assert reader.query("SELECT count(*) FROM rm_audit") == [(len(caused),)]
            assert projectors[0].applied + projectors[1].applied == len(caused)
            rollup = queries.rollup(reader, "SH")
            assert rollup["total"] == 30
            assert rollup["by_stage"]["ACTIVIST"] == 7 + 2 + 2 + 2
            assert queries.rollup(reader, "SH-PD")["total"] == 15
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            for d in dbs:
                d.close()
            client.close()
        assert errors == [] and backbone.errors == []


def _forty_members_projected(client: IntegratorClient, db: Database) -> Snapshot:
    """A city with 40 members in two streets, half of them admitted activists, projected;
    the read models' snapshot."""
    sender = Sender(client)
    sender.establish_city()
    people = crowd(40)
    _members(sender, people[:20], "SH-XH-S1-C1")
    _members(sender, people[20:], "SH-PD-S1-C1")
    wait_until(
        lambda: projections_caught_up(db, caused_by(sender.outcomes.values())),
        what="projections",
    )
    return snapshot(db)


@contextmanager
def _forty_members_live(settings: Settings) -> Iterator[tuple[Database, Snapshot]]:
    """The backbone running on a city of 40 members, projected: its read models and
    their snapshot. No loop may have failed by the end."""
    with Backbone(settings) as backbone:
        register_integrator(backbone.store, CITY, ["SH"])
        client = IntegratorClient(settings, key_secret=b"test")
        try:
            yield backbone.read_models, _forty_members_projected(client, backbone.read_models)
        finally:
            client.close()
        assert backbone.errors == []


def _first_batch_loaded(db: Database) -> bool:
    """Whether a rebuild's generation 1 has stored a position yet."""
    try:
        rows = db.query(f"SELECT count(*) FROM {table_name('rm_offsets', 1)}", generation=0)
    except Exception:  # the table is not made yet
        return False
    return rows != [(0,)]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


_REBUILD = """
import sys
from projections.rebuild import rebuild
from registry.config import Settings
settings = Settings.model_validate_json(open(sys.argv[1]).read())
rebuild(settings, progress=None, workers=2, load_records=5, timeout_s=120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_rebuild_killed_while_loading_is_run_again_to_the_same_models(
    tmp_path: Path, broker: LocalBroker, pg_schema: str
) -> None:
    """kill -9 of `rebuild` while its workers load: they die with it, the live generation
    stays live, and the rebuild run again gives exactly the live read models."""
    settings = make_settings(tmp_path, broker, pg_schema)
    with _forty_members_live(settings) as (db, before):
        config = tmp_path / "settings.json"
        config.write_text(settings.model_dump_json())
        log = tmp_path / "rebuild.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", _REBUILD, str(config)], stdout=out, stderr=out
            )
        workers: list[int] = []

        def loaded_some() -> bool:
            workers.extend(w for w in _children(process.pid) if w not in workers)
            return _first_batch_loaded(db)

        wait_until(loaded_some, timeout_s=60, what=f"the first batch loaded ({log})")
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert db.live_generation() == 0, "killed before the switch"
        wait_until(lambda: not any(_alive(w) for w in workers), timeout_s=15,
                   what="the loading processes to die with the rebuild")
        assert rebuild(settings, progress=None, drop_after_s=0.2, timeout_s=120) == 1
        assert db.live_generation() == 1
        assert snapshot(db) == before


def test_a_broker_restart_while_a_rebuild_loads_leaves_the_same_models(
    tmp_path: Path, broker: LocalBroker, pg_schema: str
) -> None:
    """Tansu restarts (every topic gone) while a rebuild's workers load: the relay
    publishes the store again in a new epoch, and the rebuild, by itself, still
    switches to exactly the live read models. Tansu may make the topics again with 4
    partitions, not the 3 they had: a rebuild that read 3 must not switch, and starts
    afresh on the 4 instead."""
    settings = make_settings(tmp_path, broker, pg_schema)
    assert settings.partitions == 3
    with _forty_members_live(settings) as (db, before):
        outcome: list[object] = []
        timings = Timings()
        progress = io.StringIO()

        def run() -> None:
            try:
                outcome.append(rebuild(settings, progress=progress, workers=2, load_records=5,
                                       drop_after_s=0.2, timeout_s=150, timings=timings))
            except Exception as error:  # judged below
                outcome.append(error)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        wait_until(lambda: _first_batch_loaded(db), timeout_s=60,
                   what="the first batch loaded")
        broker.restart()
        thread.join(timeout=180)
        assert not thread.is_alive(), "the rebuild neither finished nor failed"
        assert outcome == [1], f"{outcome}; progress: {progress.getvalue()}"
        assert db.live_generation() == 1
        wait_until(lambda: snapshot(db) == before, timeout_s=60,
                   what="the rebuilt models equal to the live ones")
        if len(_member_partitions(settings)) != settings.partitions:
            assert timings.restarts >= 1
            assert "partitions changed during the rebuild (" in progress.getvalue()
            assert "starting again (attempt 2 of 3)" in progress.getvalue()


def _member_partitions(settings: Settings) -> set[int]:
    kafka = consumer(settings, group_id=None)
    try:
        return kafka.partitions_for_topic(PROJECTED_TOPICS[-1]) or set()
    finally:
        kafka.close(autocommit=False)


def test_a_lost_partition_seen_after_a_switch_takes_up_the_new_generation(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live projector's idle guard finds a partition that no longer holds what was
    applied (the broker lost it) just after a rebuild went live and the generation it
    had its positions from was dropped: it takes up the new generation's positions
    instead of writing into the dropped tables (seen: UndefinedTable rm_offsets, and
    the projections loop stopped, in the broker-restart rebuild test above)."""
    ensure_topics(settings, PROJECTED_TOPICS)
    db = Database(settings)
    kafka = BulkReader(settings)
    projector = Projector(settings, db, load_catalog())
    try:
        tp = TopicPartition(PROJECTED_TOPICS[-1], 0)
        with db.transaction(generation=0) as cur:  # applied up to offset 4, gone now
            cur.execute("INSERT INTO rm_offsets (consumer, topic, kafka_partition, epoch,"
                        " next_offset, last_event_id) VALUES (?, ?, ?, 1, 5, 'gone:1')",
                        (projector_module.GROUP_ID, tp.topic, tp.partition))  # fmt: skip
        projector.take(kafka, [tp])
        assert projector.positions[tp].next_offset == 5
        create_tables(db, 1)  # a rebuild's generation, caught up, goes live
        with db.transaction(generation=1) as cur:
            cur.execute("INSERT INTO rm_offsets (consumer, topic, kafka_partition, epoch,"
                        " next_offset, last_event_id) VALUES (?, ?, ?, 1, 5, 'gone:1')",
                        (projector_module.GROUP_ID, tp.topic, tp.partition))  # fmt: skip
        assert try_switch(db, 0, 1)
        drop_tables(db, 0)
        monkeypatch.setattr(projector_module, "IDLE_GUARD_S", 0.0)
        projector._last_seen[tp] = 0.0  # idle long enough to be checked

        projector._guard_idle()

        assert projector._loaded_generation == 1
        assert projector.positions[tp].next_offset == 5  # the new generation's, checked next
        projector._last_seen[tp] = 0.0
        projector._guard_idle()  # and now the loss is written where it belongs
        assert projector.positions[tp].next_offset == 0
        rows = db.query("SELECT next_offset FROM rm_offsets WHERE topic = ?", (tp.topic,),
                        generation=1)  # fmt: skip
        assert [int(r[0]) for r in rows] == [0]
    finally:
        projector.close()  # the guard's reader: its client would outlive the broker
        kafka.close()
        db.close()
