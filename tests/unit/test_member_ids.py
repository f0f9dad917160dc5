"""Member ids are HMAC-SHA256 of the citizen number, shaped as a version-8 UUID: the
precomputed-pad form must give exactly the ids hmac.digest gave (stored data and
topics are keyed by them)."""

import hmac
from uuid import UUID

import pytest

from registry.member_ids import MemberIds


def _reference(key: bytes, number: str) -> UUID:
    raw = bytearray(hmac.digest(key, number.encode("ascii"), "sha256")[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80
    raw[8] = (raw[8] & 0x3F) | 0x80
    return UUID(bytes=bytes(raw))


@pytest.mark.parametrize("key", [b"k" * 16, bytes(range(32)), b"\xbe" * 64, b"long" * 40])
def test_same_ids_as_hmac_digest(key: bytes) -> None:
    ids = MemberIds(key)
    for number in ("11010519491231002X", "110105194912310029", "44030619900101001X"):
        assert ids.for_citizen(number) == _reference(key, number)
        assert ids.for_citizen(number) == _reference(key, number)  # remembered
        assert ids.for_citizen(number).version == 8


def test_short_key_refused() -> None:
    with pytest.raises(ValueError):
        MemberIds(b"short")
