"""The ingest's baseline is what its label says: every request handled and saved with
its offset in a transaction of its own. (It once ran the ingest with a batch size of 1,
whose polls take one record per partition and save them together: four requests a
transaction, and a baseline a third faster than the one the goal names.)"""

from __future__ import annotations

import pytest

from bench.env import bench_env
from bench.stage_ingest import ADMISSIONS, measure_one_per_transaction
from registry.store import EventStore, PreparedSave

pytestmark = pytest.mark.integration

REQUESTS = 40


def test_the_baseline_saves_each_request_in_a_transaction_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transactions: list[int] = []  # tracking records (= requests) per save
    write = EventStore.write

    def counted(self: EventStore, prepared: PreparedSave) -> None:
        transactions.append(len(prepared.trackings))
        write(self, prepared)

    monkeypatch.setattr(EventStore, "write", counted)
    with bench_env() as env:
        assert env.settings.partitions > 1  # where a poll brings several partitions' records
        run = measure_one_per_transaction(env, REQUESTS, timeout_s=120)
    assert transactions == [1] * REQUESTS
    # Every request accepted and applied once: an application writes the new member,
    # its outcome and its organisation's count moved; an activist admission the change
    # and its outcome (it moves no count). A rejection would write an outcome alone.
    admissions = round(REQUESTS * ADMISSIONS)
    assert run.events == (REQUESTS - admissions) * 3 + admissions * 2
    assert run.requests == REQUESTS and run.seconds > 0
