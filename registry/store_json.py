"""The event store's JSON, written and read by orjson: the bytes eventsourcing's
`JSONTranscoder` writes, and the objects it reads back, at a fraction of its time.

The standard library's encoder calls a Python `default` for every datetime, date and
uuid of an event, and its decoder a Python hook for every object: ~10 % of the ingest's
CPU (writing) and ~17 % of the relay's (reading) under load (py-spy, 2026-11-27). Here
the transcodings are applied in one pass over the state, and orjson writes and reads the
plain values.

Same bytes as `JSONTranscoder` (compact separators, non-ASCII as it is): the values
are walked in the standard encoder's order of type checks, so a `str` or `int`
subclass is written as its plain value, and a transcoding is used only where the
standard encoder would call `default`. What orjson would write otherwise (floats: its
shortest form differs in the exponent, `1.5e-7` against `1.5e-07`; keys that are not
text; integers beyond 64 bits) and what it would read otherwise or not at all (`NaN`,
integers beyond 64 bits, which it reads as floats, lone surrogates; any float, then)
goes to the standard library's path, so the answer, and the error, are eventsourcing's
own. Tests compare both on generated states.
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

__all__ = ["StoreTranscoder"]

# What the standard encoder writes itself, subclasses included (it calls `default` for
# nothing else).
_STANDARD_TYPES = (str, int, float, list, tuple, dict)


class _Standard(Exception):
    """A value this path leaves to the standard library's encoder."""


class StoreTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(self._plain(obj))
        except (_Standard, TypeError, RecursionError, orjson.JSONEncodeError):
            return super().encode(obj)

    def decode(self, data: bytes) -> Any:
        try:
            value = orjson.loads(data)
            kind = type(value)
            if kind is dict or kind is list:
                return self._hooked(value)
            if kind is float:
                raise _Standard
        except (_Standard, orjson.JSONDecodeError):
            return super().decode(data)
        return value

    def _plain(self, value: Any) -> Any:
        """`value` with every object the standard encoder hands to `default` replaced by
        its `{"_type_": …, "_data_": …}`, as `default` would return it."""
        kind = type(value)
        if kind is str or kind is int or value is None or kind is bool:
            return value
        if kind is dict:
            plain = {}
            for key, item in value.items():
                if type(key) is not str:
                    raise _Standard  # the standard encoder converts keys its own way
                kind = type(item)
                if kind is str or kind is int or item is None or kind is bool:
                    plain[key] = item
                else:
                    plain[key] = self._plain(item)
            return plain
        if kind is list or kind is tuple:
            return [self._plain(item) for item in value]
        if isinstance(value, _STANDARD_TYPES):
            # The standard encoder's order: text, integers, floats, sequences, mappings.
            if isinstance(value, str):
                return str.__str__(value)
            if isinstance(value, int):
                return int(int.__repr__(value))
            if isinstance(value, float):
                raise _Standard
            if isinstance(value, list | tuple):
                return [self._plain(item) for item in value]
            return self._plain(dict(value))
        transcoding = self.types.get(kind)
        if transcoding is None:
            raise _Standard  # its error is the standard encoder's
        data = transcoding.encode(value)
        return {"_type_": transcoding.name,
                "_data_": data if type(data) is str else self._plain(data)}  # fmt: skip

    def _hooked(self, value: Any) -> Any:
        """The standard decoder's `object_hook`, applied as it applies it: every object,
        innermost first, also inside arrays."""
        if type(value) is dict:
            for key, item in value.items():
                kind = type(item)
                if kind is dict:
                    # A date's, a uuid's: {"_type_": name, "_data_": text}, nothing inside
                    # (a name that is not text may be an object, hooked first).
                    if (len(item) == 2 and type(item.get("_type_")) is str
                            and type(item.get("_data_")) is str):
                        value[key] = self._decode_obj(item)
                    else:
                        value[key] = self._hooked(item)
                elif kind is list:
                    value[key] = self._hooked(item)
                elif kind is float:
                    # orjson reads an integer beyond 64 bits as a float, where the
                    # standard decoder keeps it whole (and the store holds no floats).
                    raise _Standard
            if len(value) == 2 and "_type_" in value:
                return self._decode_obj(value)
            return value
        for index, item in enumerate(value):
            kind = type(item)
            if kind is dict or kind is list:
                value[index] = self._hooked(item)
            elif kind is float:
                raise _Standard
        return value
