"""Citizen ID number → opaque member id: a keyed hash, so the number itself never
becomes a key, a header or an event field on a public topic."""

from __future__ import annotations

import hmac
from uuid import UUID


class MemberIds:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the member id key must have at least 16 bytes")
        self._key = key

    def for_citizen(self, citizen_id_number: str) -> UUID:
        # The one-shot form: hmac.new(...).digest() built two hash objects in Python.
        digest = hmac.digest(self._key, citizen_id_number.encode("ascii"), "sha256")
        # Shaped as a version-8 (custom) UUID so it reads as one everywhere.
        raw = bytearray(digest[:16])
        raw[6] = (raw[6] & 0x0F) | 0x80
        raw[8] = (raw[8] & 0x3F) | 0x80
        return UUID(bytes=bytes(raw))
