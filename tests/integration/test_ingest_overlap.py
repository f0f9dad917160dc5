"""The ingest handles a batch while the one before it is still being saved, on that
one's state. If that save then fails (a rival ingest moved the same tally first), the
earlier batch is redone one request per transaction and the later one is handled
again from the store: every request still gets exactly one answer and every count is
moved once."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from bench import workload
from consumers.ingest import Ingest
from domain.change_request import ChangeRequest, change_request_id
from registry.broker import LocalBroker
from registry.config import Settings
from registry.handlers import organisation_id
from registry.runtime import ingest_context
from registry.store import EventStore, open_event_store
from registry.tally import OrganisationTally, tally_id
from tests.conftest import make_settings
from tests.integration.helpers import wait_until

REQUESTS = 100
BATCH = 25


@pytest.fixture(params=["sqlite", "postgres"])
def one_partition(request: pytest.FixtureRequest, tmp_path: Path, broker: LocalBroker
                  ) -> Settings:
    schema = request.getfixturevalue("pg_schema") if request.param == "postgres" else None
    return make_settings(tmp_path, broker, schema, partitions=1, ingest_batch_size=BATCH)


def _rival_moves_the_tally(rival: EventStore, organisation_code: str) -> None:
    """What another ingest process would do to the tally meanwhile: move it (by
    nothing), so the tally's next version is taken."""
    tally_of = tally_id(organisation_id(organisation_code))
    try:
        tally = rival.repository.get(tally_of)
    except Exception:  # noqa: BLE001 - not there yet: the rival opens it
        tally = OrganisationTally(organisation_id=organisation_id(organisation_code))
    tally.count(subject_id=uuid.uuid4(), deltas={})
    rival.save(tally)


def test_a_batch_handled_on_a_save_that_failed_is_handled_again(one_partition: Settings) -> None:
    settings = one_partition
    store, rival = open_event_store(settings), open_event_store(settings)
    ctx = ingest_context(settings)
    workload.seed_store(store, ctx, workload.organisations("ov"))
    requests = [workload.apply_request(i, "ov") for i in range(REQUESTS)]
    workload.publish(settings, (workload.encode(r) for r in requests))

    ingest = Ingest(settings, store, ctx)
    handled_following: list[bool] = []
    handled = ingest._handled

    def spy(received: Any, follows: Any) -> Any:
        handled_following.append(follows is not None)
        return handled(received, follows)

    ingest._handled = spy  # type: ignore[method-assign]
    put = store.events.put
    calls = itertools.count()

    def put_after_a_rival(events: Any, tracking: Any = None) -> Any:
        if next(calls) == 0:
            time.sleep(1.0)  # the next batch is handled meanwhile, on this one's state
            _rival_moves_the_tally(rival, workload.home_branch(0))
        return put(events, tracking=tracking)

    store.events.put = put_after_a_rival  # type: ignore[method-assign]
    stop = threading.Event()
    loop = threading.Thread(target=ingest.run, args=(stop,), daemon=True)
    loop.start()
    try:
        def answered() -> list[ChangeRequest] | None:
            found = []
            for r in requests:
                try:
                    found.append(
                        rival.repository.get(change_request_id(r["source_system"],
                                                               r["request_id"]))
                    )
                except Exception:  # noqa: BLE001 - not answered yet
                    return None
            return found

        answers = wait_until(answered, timeout_s=90, what="every request answered")
    finally:
        stop.set()
        loop.join(timeout=30)

    # The second batch was handled on the first one's unsaved state, then again.
    assert handled_following[:3] == [False, True, False]
    assert all(a.accepted for a in answers)
    assert all(len(a.received_from) == 1 for a in answers), "a request answered twice"
    # Every applicant counted once in their branch, whatever the rival did.
    held = 0
    for code in {workload.home_branch(i) for i in range(REQUESTS)}:
        tally = rival.repository.get(tally_id(organisation_id(code)))
        held += tally.counts.get("HOLDS", 0)
    assert held == REQUESTS
    store.close()
    rival.close()
