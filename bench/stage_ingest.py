"""Stage 1, ingest: change requests on Kafka → events in PostgreSQL with their outcomes.
The requests are a mix: new applications (new aggregates) and activist admissions of
applicants already in the store (each loads an existing Member).

Measured with the configured batch size, against the same requests handled one per
transaction (the plain eventsourcing way, `measure_one_per_transaction`), and against
eventsourcing's own write rate saving 100 aggregates per `save`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import chain

from kafka import TopicPartition

from bench import workload
from bench.env import Env
from bench.timing import Progress, run_until_done
from consumers.ingest import Ingest, PartitionState
from consumers.kafka import consumer
from domain.identity import CitizenId
from domain.member import Member
from domain.provenance import Provenance
from registry.config import Settings
from registry.handlers import Context, organisation_id
from registry.runtime import ingest_context
from registry.store import EventStore, open_event_store
from schemas import topics

# Activist admissions of earlier applicants in the ingest mix; the rest are applications.
ADMISSIONS = 0.5


@dataclass(frozen=True)
class IngestRun:
    requests: int
    seconds: float
    rss_mb: dict[float, float]
    events: int  # stored events the requests caused, outcomes and tallies included

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def event_rate(self) -> float:
        return self.events / self.seconds


def measure_ingest(env: Env, requests: int, batch_size: int, timeout_s: float,
                   tag: str = "ing", admissions: float = ADMISSIONS,
                   just_before: Callable[[], None] | None = None,
                   ) -> tuple[IngestRun, EventStore]:
    """Pre-publishes a mix of `requests`: new applications, and activist admissions
    (a share `admissions`) of applicants already in the store (seeded with the
    organisations, untimed), then times Ingest from its first record to its last.
    `just_before` runs between the preparation and the timed part (a baseline to be
    measured at the same moment). Returns the store, still open."""
    settings = env.settings.model_copy(update={"ingest_batch_size": batch_size})
    store, ctx = _prepared(settings, requests, tag, admissions)
    if just_before is not None:
        just_before()
    before = store.recorder.max_notification_id() or 0
    ingest = Ingest(settings, store, ctx)
    progress = Progress(total=requests)
    ingest.process_polled = progress.wrap_polled(  # type: ignore[method-assign]
        ingest.process_polled, ingest.settle)
    run_until_done(ingest.run, progress, timeout_s)
    events = (store.recorder.max_notification_id() or 0) - before
    return IngestRun(requests, progress.seconds, dict(progress.rss), events), store


def measure_one_per_transaction(env: Env, requests: int, timeout_s: float, tag: str = "one",
                                admissions: float = ADMISSIONS) -> IngestRun:
    """The baseline: the same mix, each request handled by the ingest's own code (its
    one lookup query included) and saved with its offset in a transaction of its own,
    as a plain eventsourcing consumer does. Read from the start of every partition by
    a plain consumer: nothing batched, and no proof that the log is the one handled
    before (the ingest's guard against a broker that lost it, a broker round trip per
    partition and batch, which a batch of 500 spreads over its requests)."""
    store, ctx = _prepared(env.settings, requests, tag, admissions)
    try:
        before = store.recorder.max_notification_id() or 0
        ingest = Ingest(env.settings, store, ctx)
        kafka = consumer(env.settings, group_id=None)
        partitions = [TopicPartition(topics.CHANGE_REQUESTS, p)
                      for p in range(env.settings.partitions)]  # fmt: skip
        kafka.assign(partitions)
        kafka.seek_to_beginning(*partitions)
        for tp in partitions:
            ingest.partitions[tp] = PartitionState(incarnation=1, next_offset=0)
        handled, first = 0, None
        deadline = time.monotonic() + timeout_s
        try:
            while handled < requests:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"handled {handled} of {requests} in {timeout_s} s")
                for tp, records in kafka.poll(timeout_ms=100).items():
                    for record in records:
                        first = first or time.perf_counter()
                        ingest._save({tp: [record]})
                        handled += 1
            assert first is not None
            seconds = time.perf_counter() - first
        finally:
            kafka.close(autocommit=False)
        events = (store.recorder.max_notification_id() or 0) - before
        return IngestRun(requests, seconds, {}, events)
    finally:
        store.close()


def _prepared(settings: Settings, requests: int, tag: str, admissions: float
              ) -> tuple[EventStore, Context]:
    """A store seeded with the organisations and the earlier applicants, and the mix of
    `requests` published on the change-requests topic."""
    store = open_event_store(settings)
    ctx = ingest_context(settings)
    admitted = round(requests * admissions)
    workload.seed_store(store, ctx, chain(workload.organisations(tag),
                                          workload.earlier_applications(admitted, tag)))
    workload.publish(settings, workload.mixed(requests, tag, admitted))
    return store, ctx


def measure_store_writes(env: Env, aggregates: int, per_save: int = 100) -> float:
    """eventsourcing's own rate: new Member aggregates (one Applied event each, as an
    application makes) saved `per_save` at a time; aggregates (= events) per second."""
    store = open_event_store(env.settings)
    try:
        by = Provenance(request_id="bench", source_system=workload.CITY)
        organisation = organisation_id("SH-XH-S1-C1")
        ctx = ingest_context(env.settings)
        today = date.today()
        pending: list[Member] = []
        elapsed = 0.0
        for i in range(aggregates):
            request = workload.apply_request(i, "es")
            citizen = CitizenId.parse(request["member_citizen_id"])
            fields = request["change"][1]
            pending.append(
                Member.apply(
                    member_id=ctx.member_ids.for_citizen(citizen.number),
                    citizen_id=citizen,
                    name=fields["name"],
                    ethnicity=fields["ethnicity"],
                    education=fields["education"],
                    occupation=fields["occupation"],
                    phone=fields["phone"],
                    address=fields["address"],
                    organisation_id=organisation,
                    effective_date=today - timedelta(days=30),
                    recorded_on=today,
                    by=by,
                )
            )
            if len(pending) == per_save or i == aggregates - 1:
                started = time.perf_counter()
                store.save(*pending)
                elapsed += time.perf_counter() - started
                pending = []
        return aggregates / elapsed
    finally:
        store.close()
