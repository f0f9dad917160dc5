"""What the event handlers share: the record type and how values become stored text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from projections.database import Cursor

Record = dict[str, Any]
Handler = Callable[[Cursor, str, Record], None]


def text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def day(record: Record) -> str:
    return record["effective_date"].isoformat()


def plain(value: Any) -> Any:
    """A JSON-ready copy of a decoded Avro value."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
