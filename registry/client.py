"""A small client for integrators: build a change request, publish it, wait for its outcome."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from datetime import date
from typing import Any

from kafka import TopicPartition

from consumers.kafka import consumer, producer
from registry.config import Settings
from schemas import topics
from schemas.catalog import Catalog, load_catalog

REQUEST_SCHEMA = "registry.requests.ChangeRequest"


def change_request(
    *,
    request_id: str,
    source_system: str,
    acting_organisation: str,
    effective_date: date,
    change: str,
    member_citizen_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A request record; `change` is the request kind (e.g. "ApplyForMembership")."""
    return {
        "request_id": request_id,
        "source_system": source_system,
        "acting_organisation": acting_organisation,
        "effective_date": effective_date,
        "member_citizen_id": member_citizen_id,
        "change": (f"registry.requests.{change}", fields),
    }


def encode_request(catalog: Catalog, request: dict[str, Any]) -> bytes:
    """A request from `change_request` in its wire form: a kind with a schema of its own
    (every kind after the first, closed ChangeRequest union) is sent in that schema, the
    envelope fields beside the kind's own; the first kinds go in the ChangeRequest union."""
    kind, fields = request["change"]
    try:
        if kind in catalog.by_name:
            envelope = {k: v for k, v in request.items() if k != "change"}
            return catalog.encode(kind, {**envelope, **fields})
        return catalog.encode(REQUEST_SCHEMA, request)
    except (ValueError, TypeError, KeyError) as error:
        # fastavro says what is wrong but not where; name the kind with it.
        raise RequestNotEncodable(f"{kind.rsplit('.', 1)[-1]}: {error}") from None
    except OverflowError:
        raise RequestNotEncodable(
            f"{kind.rsplit('.', 1)[-1]}: a number does not fit its field (a 64-bit integer)"
        ) from None


class RequestNotEncodable(ValueError):
    """The request does not fit its schema (a missing field, a wrong type)."""


class IntegratorClient:
    """Publishes requests keyed so that one member's requests stay in order, and reads
    their outcomes back from registry.change-outcomes."""

    def __init__(self, settings: Settings, *, key_secret: bytes, catalog: Catalog | None = None):
        self.settings = settings
        self.catalog = catalog or load_catalog()
        self._key_secret = key_secret
        self._producer = producer(settings)
        self._outcomes = consumer(settings, group_id=None)
        self._outcome_start = time.time() - 60
        self._assigned_at = 0.0
        self.outcomes: dict[tuple[str, str], dict[str, Any]] = {}
        # Every outcome seen per request: a repeat or a refused conflict comes after the first.
        self.all_outcomes: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def partition_key(self, request: dict[str, Any]) -> bytes:
        # A keyed hash: the citizen ID number must never be a key on a topic.
        reference = request.get("member_citizen_id") or request["acting_organisation"]
        return hmac.new(self._key_secret, reference.encode(), hashlib.sha256).hexdigest().encode()

    def encode(self, request: dict[str, Any]) -> bytes:
        return encode_request(self.catalog, request)

    def publish(self, request: dict[str, Any]) -> None:
        self.publish_bytes(self.partition_key(request), self.encode(request))

    def publish_bytes(self, key: bytes | None, value: bytes) -> None:
        self._producer.send(topics.CHANGE_REQUESTS, key=key, value=value).get(timeout=30)

    def flush(self) -> None:
        self._producer.flush()

    def wait_for(
        self, requests: Iterable[tuple[str, str]], timeout_s: float = 60
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Outcomes for (source_system, request_id) pairs; raises TimeoutError if any is missing."""
        wanted = set(requests)
        deadline = time.monotonic() + timeout_s
        while not wanted.issubset(self.outcomes):
            if time.monotonic() > deadline:
                missing = sorted(wanted - set(self.outcomes))
                raise TimeoutError(f"no outcome yet for {len(missing)} request(s): {missing[:5]}")
            self._poll()
        return {k: self.outcomes[k] for k in wanted}

    def wait_for_count(
        self, request: tuple[str, str], count: int, timeout_s: float = 60
    ) -> list[dict[str, Any]]:
        """Waits until `count` outcomes were published for one request (first, repeats,
        refused conflicts) and returns them in order."""
        deadline = time.monotonic() + timeout_s
        while len(self.all_outcomes.get(request, [])) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} outcomes for {request}")
            self._poll()
        return self.all_outcomes[request]

    def _poll(self) -> None:
        self._assign_outcomes()
        if not self._outcomes.assignment():
            time.sleep(0.2)
            return
        for records in self._outcomes.poll(timeout_ms=200).values():
            for record in records:
                _, outcome = self.catalog.decode(record.value)
                key = (outcome["source_system"], outcome["request_id"])
                seen = self.all_outcomes.setdefault(key, [])
                if all(o["event_id"] != outcome["event_id"] for o in seen):
                    seen.append(outcome)
                # The first outcome is the answer; a repeat says the same.
                self.outcomes.setdefault(key, outcome)

    def send(self, request: dict[str, Any], timeout_s: float = 60) -> dict[str, Any]:
        self.publish(request)
        key = (request["source_system"], request["request_id"])
        return self.wait_for([key], timeout_s)[key]

    def _assign_outcomes(self) -> None:
        """Follows every partition of the outcomes topic, including ones that appear later
        (the topic may not exist yet, or come back with another partition count)."""
        now = time.monotonic()
        if now - self._assigned_at < 1.0:
            return
        self._assigned_at = now
        parts = self._outcomes.partitions_for_topic(topics.CHANGE_OUTCOMES) or set()
        tps = {TopicPartition(topics.CHANGE_OUTCOMES, p) for p in parts}
        new = sorted(tps - set(self._outcomes.assignment()), key=lambda tp: tp.partition)
        if not new:
            return
        self._outcomes.assign(sorted(tps, key=lambda tp: tp.partition))
        # Outcomes from a minute before this client started on; where the broker cannot
        # tell, from the beginning (correct, only slower).
        starts = self._outcomes.offsets_for_times(
            {tp: int(self._outcome_start * 1000) for tp in new}
        )
        for tp in new:
            found = starts.get(tp)
            if found is None:
                self._outcomes.seek_to_beginning(tp)
            else:
                self._outcomes.seek(tp, found.offset)

    def close(self) -> None:
        self._producer.close(timeout=5)
        self._outcomes.close()
