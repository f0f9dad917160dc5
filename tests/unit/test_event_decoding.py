"""The read models' decoder (projections/decoding.py) against the catalog's: the same
events, uuids as the strings they were written as, and the same rows from them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bench.citygen import CityShape, events
from projections.apply.audit import payload
from projections.apply.common import text
from projections.decoding import event_decoder
from schemas import codec
from schemas.catalog import load_catalog


def _encoded() -> list[bytes]:
    catalog = load_catalog()
    return [catalog.encode(f"registry.events.{name}", record)
            for (name, record), _ in events(CityShape.for_members(300), 5)]  # fmt: skip


def _as_text(record: dict[str, Any]) -> dict[str, Any]:
    return {k: [text(x) for x in v] if isinstance(v, list) else text(v)
            for k, v in record.items()}  # fmt: skip


def test_events_decode_as_the_catalog_decodes_them_with_uuids_as_text() -> None:
    catalog, decoder = load_catalog(), event_decoder(load_catalog())
    uuids = 0
    for data in _encoded():
        name, expected = catalog.decode(data)
        got_name, got = decoder.decode(data)
        assert got_name == name and got.keys() == expected.keys()
        for key, value in expected.items():
            if isinstance(value, uuid.UUID):
                assert got[key] == str(value) and isinstance(got[key], str)
                uuids += 1
            else:
                assert got[key] == value
        # What the read models keep of them is the same text.
        assert payload(got) == payload(expected)
        assert _as_text(got) == _as_text(expected)
    assert uuids > 1000


def test_bad_bytes_raise_the_catalogs_errors() -> None:
    decoder = event_decoder(load_catalog())
    good = _encoded()[0]
    with pytest.raises(codec.BadMarker):
        decoder.decode(b"\x00" + good[1:])
    with pytest.raises(codec.UnknownFingerprint):
        decoder.decode(good[:2] + b"\xff" * 8 + good[10:])
    with pytest.raises(codec.CorruptBody):
        decoder.decode(good + b"\x00")
