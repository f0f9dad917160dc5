"""Running the backbone: the three loops over one store, in threads of one process
(embedded) or one loop per process (production, one command each)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from consumers.ingest import Ingest
from consumers.projector import Projector
from consumers.relay import Relay
from projections.database import Database
from registry.broker import LocalBroker
from registry.config import Settings
from registry.handlers import Context
from registry.heap import keep_heap_flat
from registry.member_ids import MemberIds
from registry.store import EventStore, open_event_store
from schemas.catalog import load_catalog

log = logging.getLogger(__name__)


def with_broker(settings: Settings) -> tuple[Settings, LocalBroker | None]:
    """Starts the local broker when no Kafka is configured."""
    if not settings.embedded_broker:
        return settings, None
    broker = LocalBroker(settings.broker_port, settings.data_dir / "broker.log")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker.start()
    return settings.model_copy(update={"kafka_bootstrap": broker.bootstrap}), broker


def ingest_context(settings: Settings) -> Context:
    member_id_key, _ = settings.keys()
    zone = ZoneInfo(settings.timezone)
    return Context(
        member_ids=MemberIds(member_id_key),
        catalog=load_catalog(),
        policy=settings.domain_policy(),
        today=lambda: datetime.now(zone).date(),
    )


@dataclass
class Backbone(AbstractContextManager["Backbone"]):
    """Ingest, relay and projections running in threads until stopped."""

    settings: Settings
    loops: tuple[str, ...] = ("ingest", "relay", "projections")
    store: EventStore = field(init=False)
    read_models: Database = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store = open_event_store(self.settings)
        self.read_models = Database(self.settings)

    def start(self) -> Backbone:
        keep_heap_flat()  # the loops run for days in this process
        catalog = load_catalog()
        runners: dict[str, Callable[[threading.Event], None]] = {}
        if "ingest" in self.loops:
            runners["ingest"] = Ingest(self.settings, self.store, ingest_context(self.settings)).run
        if "relay" in self.loops:
            relay = Relay(self.settings, self.store, catalog)
            runners["relay"] = relay.run
        if "projections" in self.loops:
            runners["projections"] = Projector(self.settings, self.read_models, catalog).run
        for name, run in runners.items():
            thread = threading.Thread(
                target=self._guarded, args=(name, run), name=name, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _guarded(self, name: str, run: Callable[[threading.Event], None]) -> None:
        try:
            run(self._stop)
        except BaseException as error:  # a dead loop must be seen, not silently gone
            log.exception("%s stopped with an error", name)
            self.errors.append(error)
            self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()

    def __enter__(self) -> Backbone:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
        self.read_models.close()
        self.store.close()
