"""The ingest's bulk lookup (`EventStore.take` / `keep`): one query gives the current
state of many aggregates, cached ones fast-forwarded by what another process recorded
since, and what a failed batch changed never reaches the cache."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.config import Settings
from registry.store import EventStore, open_event_store
from registry.tally import OrganisationTally
from tests.conftest import DATABASE_URL


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    database_url = None
    if request.param == "postgres":
        schema = request.getfixturevalue("pg_schema")
        database_url = f"{DATABASE_URL}?schema={schema}"
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        kafka_bootstrap="127.0.0.1:1",  # never used: no Kafka here
        member_id_key="ab" * 32,
        cipher_key="w3Xh3Q0o8ho4GmSxYbGPGcLw0p2SaS0Rx4Jf7D1Ojq8=",
    )


@pytest.fixture
def two_processes(store_settings: Settings) -> Iterator[tuple[EventStore, EventStore]]:
    """Two stores on one database, as two ingest processes would have."""
    first, second = open_event_store(store_settings), open_event_store(store_settings)
    yield first, second
    first.close()
    second.close()


def _tally(counts: int) -> OrganisationTally:
    tally = OrganisationTally(organisation_id=uuid.uuid4())
    for _ in range(counts):
        tally.count(subject_id=uuid.uuid4(), deltas={"HOLDS": 1})
    return tally


def test_take_reads_many_aggregates_and_leaves_out_the_absent(
    two_processes: tuple[EventStore, EventStore],
) -> None:
    writer, reader = two_processes
    tallies = [_tally(n) for n in (0, 1, 5)]
    writer.save(*tallies)
    absent = uuid.uuid4()

    taken = reader.take({t.id for t in tallies} | {absent})

    assert set(taken) == {t.id for t in tallies}
    for tally in tallies:
        got = taken[tally.id]
        assert isinstance(got, OrganisationTally)
        assert (got.version, got.counts) == (tally.version, tally.counts)


def test_a_kept_aggregate_is_fast_forwarded_by_what_another_process_recorded(
    two_processes: tuple[EventStore, EventStore],
) -> None:
    first, second = two_processes
    tally = _tally(2)
    first.save(tally)
    kept = first.take({tally.id})[tally.id]
    first.keep([kept])

    # Another process moves the same tally on.
    moved = second.take({tally.id})[tally.id]
    assert isinstance(moved, OrganisationTally)
    moved.count(subject_id=uuid.uuid4(), deltas={"HOLDS": 3})
    second.save(moved)

    again = first.take({tally.id})[tally.id]
    assert isinstance(again, OrganisationTally)
    assert again.version == moved.version == 4
    assert again.counts == {"HOLDS": 5}


def test_changes_of_a_batch_that_was_not_saved_do_not_reach_the_cache(
    two_processes: tuple[EventStore, EventStore],
) -> None:
    store, _ = two_processes
    tally = _tally(1)
    store.save(tally)
    store.keep([store.take({tally.id})[tally.id]])

    unsaved = store.take({tally.id})[tally.id]
    assert isinstance(unsaved, OrganisationTally)
    unsaved.count(subject_id=uuid.uuid4(), deltas={"HOLDS": 10})  # never saved

    current = store.take({tally.id})[tally.id]
    assert isinstance(current, OrganisationTally)
    assert (current.version, current.counts) == (2, {"HOLDS": 1})
