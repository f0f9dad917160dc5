"""An Avro binary encoder made once per schema, for the relay's hot loop.

fastavro's `schemaless_writer` walks the schema for every record (a type lookup and a
call per field, union "best match" checks): about half of the relay's encoding time for
the project's flat event records. Here the walk happens once, when a schema is compiled
into nested closures; a record is then a call per field.

Only what the event schemas use is compiled: null, boolean, int, long, string, bytes,
enum, array, map, nested records, unions of null and one other type, and fastavro's own
logical-type conversions (dates, timestamps, uuids, decimals). Anything else raises
`Unsupported` at compile time, and a record that needs a field's default (the field is
missing) raises `NeedsDefault`: the caller encodes those with fastavro. The bytes are
fastavro's (tests compare them for every schema of the catalog).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastavro._logical_writers import LOGICAL_WRITERS

__all__ = ["NeedsDefault", "Unsupported", "compile_schema", "full_name"]

_Append = Callable[[bytes], None]
_Write = Callable[[Any, _Append], None]


class Unsupported(ValueError):
    """The schema uses something this encoder does not compile."""


class NeedsDefault(LookupError):
    """A record leaves out a field: fastavro writes its default."""


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Zig-zag varints of 0 ≤ n < 32768 (lengths, versions, enum indexes, dates up to 2059),
# made once.
_SMALL = tuple(_varint(n << 1) for n in range(32768))
# Larger numbers are timestamps: their low 21 bits are three varint bytes, the rest
# (about a second's worth of microseconds apart) is looked up here.
_HIGH: dict[int, bytes] = {}


def _long(n: int) -> bytes:
    if 0 <= n < 32768:
        return _SMALL[n]
    if type(n) is not int:
        raise TypeError(f"not an int: {n!r}")
    n = (n << 1) ^ (n >> 63)
    if n < 0x200000:
        return _varint(n)
    high = n >> 21
    rest = _HIGH.get(high)
    if rest is None:
        if len(_HIGH) > 4096:
            _HIGH.clear()
        rest = _HIGH[high] = _varint(high)
    return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14 & 0x7F | 0x80)) + rest


def full_name(schema: dict[str, Any], namespace: str) -> tuple[str, str]:
    """A named type's full name and the namespace its own names are read in (Avro's
    rules: a dotted name is full, else the type's namespace or the enclosing one)."""
    name = schema["name"]
    if "." in name:
        return name, name.rpartition(".")[0]
    space = schema.get("namespace", namespace)
    return (f"{space}.{name}" if space else name), space


def compile_schema(schema: dict[str, Any]) -> Callable[[dict[str, Any]], bytes]:
    """The body encoder of a record schema: record → Avro binary (no header).

    The top record's fields become one straight-line function (generated source): a
    call per field costs as much as the field's own work. Values below them (array
    items, map values, nested records) go through the closures."""
    compiler = _Compiler()
    namespace = schema.get("namespace", "")
    compiler.node(schema, namespace)  # every named type known, the schema checked
    space = full_name(schema, namespace)[1]
    env: dict[str, Any] = {"S": _SMALL, "L": _long, "NeedsDefault": NeedsDefault}
    lines = ["def encode(r):", "    parts = []", "    a = parts.append", "    try:"]
    for i, field in enumerate(schema["fields"]):
        lines.append(f"        v = r[{field['name']!r}]")
        lines.extend("        " + line for line in _inline(compiler, field["type"], space, env, i))
    lines += [
        "    except KeyError as missing:",
        "        raise NeedsDefault(str(missing)) from None",
        "    return b''.join(parts)",
    ]
    exec("\n".join(lines), env)  # the source is made here, from the schema alone
    encode: Callable[[dict[str, Any]], bytes] = env["encode"]
    return encode


def _inline(compiler: _Compiler, schema: Any, namespace: str, env: dict[str, Any],
            number: int) -> list[str]:
    """Source lines that append the encoding of `v` (a value of `schema`)."""
    if schema == "string":
        return ["b = v.encode()", "n = len(b)", "a(S[n] if n < 32768 else L(n))", "a(b)"]
    if schema in ("int", "long"):
        return ["a(L(v))"]
    if schema == "boolean":
        return ["a(b'\\x01' if v else b'\\x00')"]
    if isinstance(schema, list) and len(schema) == 2 and "null" in schema:
        null_index = schema.index("null")
        inner = _inline(compiler, schema[1 - null_index], namespace, env, number)
        return [
            "if v is None:",
            f"    a({_long(null_index)!r})",
            "else:",
            f"    a({_long(1 - null_index)!r})",
            *("    " + line for line in inner),
        ]
    if isinstance(schema, dict) and isinstance(schema.get("type"), str):
        prepare = LOGICAL_WRITERS.get(f"{schema['type']}-{schema.get('logicalType')}")
        if prepare is not None:
            env[f"P{number}"], env[f"T{number}"] = prepare, schema
            return [f"v = P{number}(v, T{number})",
                    *_inline(compiler, schema["type"], namespace, env, number)]
    env[f"W{number}"] = compiler.node(schema, namespace)
    return [f"W{number}(v, a)"]


class _Compiler:
    def __init__(self) -> None:
        self.named: dict[str, _Write] = {}

    def node(self, schema: Any, namespace: str) -> _Write:
        if isinstance(schema, list):
            return self._union(schema, namespace)
        if isinstance(schema, str):
            return self._primitive(schema, namespace)
        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical is not None:
            return self._logical(schema, kind, logical, namespace)
        if kind == "record":
            return self._record(schema, namespace)
        if kind == "enum":
            return self._enum(schema, namespace)
        if kind == "array":
            return self._array(self.node(schema["items"], namespace))
        if kind == "map":
            return self._map(self.node(schema["values"], namespace))
        if isinstance(kind, str | list | dict):
            return self.node(kind, namespace)
        raise Unsupported(f"type {kind!r}")

    def _primitive(self, name: str, namespace: str) -> _Write:
        if name == "null":
            return _null
        if name == "boolean":
            return _boolean
        if name in ("int", "long"):
            return _integer
        if name == "string":
            return _string
        if name == "bytes":
            return _bytes
        for full in (name, f"{namespace}.{name}"):
            if full in self.named:
                return self._by_name(full)
        raise Unsupported(f"type {name!r}")

    def _by_name(self, full: str) -> _Write:
        named = self.named

        def write(value: Any, append: _Append) -> None:
            named[full](value, append)

        return write

    def _record(self, schema: dict[str, Any], namespace: str) -> _Write:
        full, space = full_name(schema, namespace)
        self.named[full] = _unresolved  # a field may refer to the record itself
        fields = tuple((f["name"], self.node(f["type"], space)) for f in schema["fields"])

        def write(record: dict[str, Any], append: _Append) -> None:
            for name, write_field in fields:
                try:
                    value = record[name]
                except KeyError:
                    raise NeedsDefault(name) from None
                write_field(value, append)

        self.named[full] = write
        return write

    def _enum(self, schema: dict[str, Any], namespace: str) -> _Write:
        full, _ = full_name(schema, namespace)
        symbols: list[str] = schema["symbols"]
        index = {symbol: _long(i) for i, symbol in enumerate(symbols)}

        def write(value: Any, append: _Append) -> None:
            encoded = index.get(value)
            if encoded is None:
                encoded = _long(symbols.index(value))  # fastavro's error when not there
            append(encoded)

        self.named[full] = write
        return write

    def _union(self, branches: list[Any], namespace: str) -> _Write:
        if len(branches) != 2 or "null" not in branches:
            raise Unsupported(f"union {branches!r}")
        null_index = branches.index("null")
        other = self.node(branches[1 - null_index], namespace)
        null_tag, other_tag = _long(null_index), _long(1 - null_index)

        def write(value: Any, append: _Append) -> None:
            if value is None:
                append(null_tag)
            else:
                append(other_tag)
                other(value, append)

        return write

    def _array(self, item: _Write) -> _Write:
        def write(values: Any, append: _Append) -> None:
            if len(values) > 0:
                append(_long(len(values)))
                for value in values:
                    item(value, append)
            append(b"\x00")

        return write

    def _map(self, item: _Write) -> _Write:
        def write(values: Any, append: _Append) -> None:
            if len(values) > 0:
                append(_long(len(values)))
                for key, value in values.items():
                    _string(key, append)
                    item(value, append)
            append(b"\x00")

        return write

    def _logical(self, schema: dict[str, Any], kind: Any, logical: str, namespace: str
                 ) -> _Write:
        prepare = LOGICAL_WRITERS.get(f"{kind}-{logical}") if isinstance(kind, str) else None
        underlying = self.node(kind, namespace)
        if prepare is None:
            return underlying  # an unknown logical type is its underlying type (spec)

        def write(value: Any, append: _Append) -> None:
            underlying(prepare(value, schema), append)

        return write


def _unresolved(value: Any, append: _Append) -> None:
    raise Unsupported("a named type used before its definition ended")


def _null(value: Any, append: _Append) -> None:
    if value is not None:
        raise TypeError(f"not null: {value!r}")


def _boolean(value: Any, append: _Append) -> None:
    append(b"\x01" if value else b"\x00")


def _integer(value: Any, append: _Append) -> None:
    append(_long(value))


def _string(value: Any, append: _Append) -> None:
    encoded = value.encode()
    append(_long(len(encoded)))
    append(encoded)


def _bytes(value: Any, append: _Append) -> None:
    append(_long(len(value)))
    append(bytes(value))
