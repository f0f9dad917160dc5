"""PostgreSQL restarts while requests flow: every loop waits for it and carries on;
nothing is lost and nothing is applied twice. Shut down cleanly, and crashed (an
immediate stop: no checkpoint, crash recovery at the start), which loses the read
models' last commits (they do not wait for the WAL to reach the disk,
projections/database.py): the projector reads them from the topics again."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from projections import queries
from registry.broker import LocalBroker
from registry.client import IntegratorClient
from registry.integrators import register_integrator
from registry.runtime import Backbone
from tests.conftest import DATABASE_URL, make_settings
from tests.integration.helpers import (
    CITY,
    Sender,
    caused_by,
    crowd,
    projections_caught_up,
    wait_until,
)


def _restart_postgres(mode: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart",
         "--mode", mode],
        check=True,
        capture_output=True,
    )

    def answers() -> bool:
        try:
            psycopg.connect(DATABASE_URL, connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    wait_until(answers, timeout_s=60, what="PostgreSQL after its restart")


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_database_restart_loses_and_duplicates_nothing(
    tmp_path: Path, broker: LocalBroker, pg_schema: str, mode: str
) -> None:
    settings = make_settings(tmp_path, broker, pg_schema, ingest_batch_size=20)
    with Backbone(settings) as backbone:
        register_integrator(backbone.store, CITY, ["SH"])
        client = IntegratorClient(settings, key_secret=b"test")
        try:
            sender = Sender(client)
            sender.establish_city()
            persons = crowd(60, seed=21)
            first = sender.send(sender.apply(p, "SH-PD-S2-C2") for p in persons[:20])
            assert all(o["accepted"] for o in first)

            # The rest go out and the database restarts while they are being handled.
            rest = [sender.apply(p, "SH-PD-S2-C2") for p in persons[20:]]
            for request in rest:
                client.publish(request)
            client.flush()
            time.sleep(0.2)
            _restart_postgres(mode)
            outcomes = client.wait_for(
                [(r["source_system"], r["request_id"]) for r in rest], timeout_s=120
            )
            assert all(o["accepted"] for o in outcomes.values())
            sender.outcomes.update({k[1]: v for k, v in outcomes.items()})

            db = backbone.read_models
            wait_until(
                lambda: projections_caught_up(db, caused_by(sender.outcomes.values())),
                timeout_s=120,
                what="projections after the restart",
            )
            roster = queries.roster(db, "SH-PD-S2-C2", limit=1000)
            assert len(roster) == 60 == len({r["member_id"] for r in roster})
            duplicates = db.query(
                "SELECT aggregate_id, version FROM rm_audit GROUP BY aggregate_id, version"
                " HAVING count(*) > 1"
            )
            assert duplicates == []
        finally:
            client.close()
        assert backbone.errors == []
