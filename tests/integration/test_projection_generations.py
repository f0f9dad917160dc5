"""Rebuilding the read models while the live projector runs, and two projectors sharing
the partitions of one consumer group: the read models end up exact either way."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest

from consumers.projector import Projector
from projections import queries
from projections.database import Database, table_name
from projections.rebuild import rebuild
from projections.tables import TABLES
from registry.client import IntegratorClient
from registry.config import Settings
from registry.integrators import register_integrator
from registry.runtime import Backbone
from schemas.catalog import load_catalog
from tests.integration.helpers import (
    CITY,
    Sender,
    caused_by,
    crowd,
    projections_caught_up,
    wait_until,
)

COMPARED = [t for t in TABLES if t not in ("rm_offsets", "rm_undecodable")]


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: sorted((tuple(r) for r in db.query(f"SELECT * FROM {table}")), key=repr)
        for table in COMPARED
    }


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
            progress = io.StringIO()
            generation = rebuild(settings, progress=progress, drop_after_s=0.2, timeout_s=90)
            assert generation == 1 and db.live_generation() == 1
            assert "rebuild generation 1" in progress.getvalue()
            assert snapshot(db) == before
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
