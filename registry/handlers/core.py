"""The service layer: one change request in, domain commands run, one outcome recorded.

Handlers work on a `Batch` (the unit of work): aggregates are loaded once per batch and
every event is kept in the order it happened, so the whole batch, with the Kafka
offset it came from, is saved in one transaction by the ingest consumer.
"""

from __future__ import annotations

import hashlib
from typing import Any

from eventsourcing.domain import Aggregate

from domain.change_request import ChangeRequest as RequestRecord
from domain.change_request import DeadLetter, change_request_id
from domain.errors import DomainError
from domain.integrator import Integrator, integrator_id
from registry import requests as rq
from registry.handlers import circumstances, lifecycle, organisations, standing, transfers
from registry.handlers.base import Batch, Context, Handler, Op, ReceivedRecord
from schemas.codec import DecodeError

# Every request kind and the handler that runs it (a test checks none is missing).
HANDLERS: dict[type, Handler] = {
    **organisations.HANDLERS,
    **lifecycle.HANDLERS,
    **standing.HANDLERS,
    **circumstances.HANDLERS,
    **transfers.HANDLERS,
}


def handle(batch: Batch, received: ReceivedRecord, ctx: Context) -> None:
    """Records exactly one thing for the record: an outcome, a repeat, or a dead letter."""
    try:
        record = _request_record(received, ctx)
    except DecodeError as error:
        batch.record(
            DeadLetter(
                received_from=received.received_from,
                reason=f"{error.reason}: {error}",
                key=received.key,
                value=received.value,
            )
        )
        return

    source_system, request_id = request_key(record)
    digest = hashlib.sha256(received.value).hexdigest()
    earlier = batch.get(change_request_id(source_system, request_id), RequestRecord)
    if earlier is not None:
        if earlier.body_digest == digest:
            earlier.repeat(received_from=received.received_from)
        else:
            earlier.refuse_conflict(received_from=received.received_from, body_digest=digest)
        batch.record(earlier)
        return

    caused: list[Any] = []
    try:
        request = rq.parse_request(record)
        touched = _run(batch, request, ctx)
        caused = batch.record(*touched)
        # The tallies move after the changes that moved them, and are not among the
        # events the outcome names: they are the registry's own bookkeeping, never
        # published.
        batch.account(touched)
    except DomainError as error:
        _forget_pending(batch)
        decision: dict[str, Any] = {
            "accepted": False,
            "code": error.code,
            "message": error.message,
            "values": {k: _shown(v) for k, v in error.values.items()},
        }
    else:
        decision = {"accepted": True, "code": None, "message": None, "values": {}}
    _record_outcome(batch, received, (source_system, request_id), digest, caused, decision)


def refuse_unprocessed(
    batch: Batch, received: ReceivedRecord, ctx: Context, error: Exception
) -> None:
    """The one outcome of a request that `handle` failed on with an error of the
    registry's own code (a bug), in a batch of its own: refused, nothing of it applied,
    so that it does not stop its partition (every later request waits behind it). The
    integrator may send it again under a new request id once the registry is fixed.
    The error itself goes to the log, with where the request was read; the outcome
    names its type only (outcomes are published)."""
    key = request_key(_request_record(received, ctx))  # decoded: `handle` got past that
    if batch.get(change_request_id(*key), RequestRecord) is not None:
        raise error  # failed answering a repeat: its first outcome stands, nothing to add
    decision = {
        "accepted": False,
        "code": "NOT_PROCESSED",
        "message": "the registry failed on this request; nothing of it was applied",
        "values": {"error": type(error).__name__},
    }
    digest = hashlib.sha256(received.value).hexdigest()
    _record_outcome(batch, received, key, digest, [], decision)


def _request_record(received: ReceivedRecord, ctx: Context) -> dict[str, Any]:
    """The decoded request in the union's form, whichever form it came in; DecodeError
    when the bytes are not a change request."""
    schema_name, record = received.decoded or ctx.catalog.decode(received.value)
    if schema_name in rq.STANDALONE_SCHEMAS:
        return rq.as_envelope(schema_name, record)
    if schema_name != rq.REQUEST_SCHEMA:
        raise DecodeError(f"a {schema_name} is not a change request")
    return record


def _record_outcome(
    batch: Batch,
    received: ReceivedRecord,
    key: tuple[str, str],
    digest: str,
    caused: list[Any],
    decision: dict[str, Any],
) -> None:
    source_system, request_id = key
    batch.record(
        RequestRecord.decide(
            source_system=source_system,
            request_id=request_id,
            body_digest=digest,
            caused=[
                [e.originator_id.hex, e.originator_version, type(e).__qualname__] for e in caused
            ],
            received_from=received.received_from,
            **decision,
        )
    )


def request_key(record: dict[str, Any]) -> tuple[str, str]:
    """(source system, request id) as the request's record is kept under, whatever the
    decoded record holds (a missing or overlong value is still a key)."""
    source_system = str(record.get("source_system") or "")[:64] or "?"
    request_id = str(record.get("request_id") or "")[:128] or "?"
    return source_system, request_id


def _forget_pending(batch: Batch) -> None:
    # Commands check every rule before they trigger an event, so a refused command has
    # nothing pending; this guards that promise instead of trusting it.
    for aggregate in batch.aggregates.values():
        if aggregate.pending_events:
            raise AssertionError(f"a refused command left events pending on {aggregate.id}")


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _run(batch: Batch, request: rq.ChangeRequest, ctx: Context) -> list[Aggregate]:
    integrator = batch.get(integrator_id(request.source_system), Integrator)
    if integrator is None:
        raise DomainError(
            "UNKNOWN_SOURCE_SYSTEM",
            "the source system is not a registered integrator",
            source_system=request.source_system,
        )
    handler = HANDLERS.get(type(request.change))
    if handler is None:  # pragma: no cover - a test checks every kind has a handler
        raise DomainError(
            "INVALID_REQUEST", "unsupported change", change=type(request.change).__name__
        )
    op = Op(batch=batch, ctx=ctx, request=request, integrator=integrator, today=ctx.today())
    return handler(op, request.change)
