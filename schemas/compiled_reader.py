"""An Avro binary decoder made once per writer schema, for the loops that decode every
record they take (the ingest's change requests, the projector's events).

fastavro's reader walks the schema for every record (a type dispatch, an options
lookup and a call per field): ~20 µs for a change request here, a tenth of the ingest's
CPU and a fifth of the projector's under load (py-spy, 2026-11-27). Here the walk
happens once: the schema becomes Python source, one function per record type, a field
a few straight lines.

It decodes as `codec.decode_body` asks fastavro to (writer's schema only, unions of
records as `(full name, record)` unless the union has a single record branch,
fastavro's own logical-type readers), for the ordinary case only: anything unusual in
the bytes (a varint of ten bytes or more, a negative length or index, bytes that are
not UTF-8) raises, and a record that does not end where the bytes do is noticed by the
caller: either way the caller decodes the record with fastavro, which gives the answer
or the error it always gave. Types the project's schemas do not use raise `Unsupported`
at compile time (the caller then uses fastavro for that schema). Tests compare both
decoders on every schema of the catalog.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from fastavro._logical_readers import LOGICAL_READERS
from fastavro.const import AVRO_TYPES  # what fastavro takes for a type, not a name

from schemas.compiled import full_name

__all__ = ["Read", "Unsupported", "compile_reader"]

# (bytes, offset of the body) → (record, offset after it)
Read = Callable[[bytes, int], tuple[dict[str, Any], int]]

_PRIMITIVES = frozenset(
    ("null", "boolean", "int", "long", "float", "double", "bytes", "string"))


class Unsupported(ValueError):
    """The schema uses something this decoder does not compile."""


class Unusual(ValueError):
    """Bytes this decoder leaves to fastavro (see the module's doc)."""


def _varint(data: bytes, i: int) -> tuple[int, int]:
    """A zig-zag varint of up to nine bytes (63 bits: every long fastavro reads without
    wrapping around) at data[i]; longer ones are left to fastavro."""
    shift = 0
    n = 0
    for j in range(i, i + 9):
        byte = data[j]
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (n >> 1) ^ -(n & 1), j + 1
        shift += 7
    raise Unusual("varint of ten bytes or more")


def _length(data: bytes, i: int) -> tuple[int, int]:
    n, i = _varint(data, i)
    if n < 0:
        raise Unusual("negative length")
    return n, i


def _index(data: bytes, i: int, count: int) -> tuple[int, int]:
    n, i = _varint(data, i)
    if not 0 <= n < count:
        raise Unusual("index out of range")
    return n, i


_FLOAT = struct.Struct("<f").unpack_from
_DOUBLE = struct.Struct("<d").unpack_from


def compile_reader(schema: dict[str, Any]) -> Read:
    """The body decoder of a record schema (its source, as in the .avsc file)."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise Unsupported("only a record schema is compiled")
    generator = _Generator()
    top = generator.record_function(schema, schema.get("namespace", ""))
    source = "\n".join(generator.lines)
    env = generator.env
    exec(source, env)  # the source is made here, from the schema alone
    read: Read = env[top]
    return read


class _Generator:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {
            "V": _varint, "LEN": _length, "IDX": _index, "Unusual": Unusual,
            "F32": _FLOAT, "F64": _DOUBLE,
        }  # fmt: skip
        self.functions: dict[str, str] = {}  # record full name → its function's name
        self.named: dict[str, dict[str, Any]] = {}  # full name → definition
        self._names = 0

    def _name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def _constant(self, value: Any, prefix: str = "K") -> str:
        name = self._name(prefix)
        self.env[name] = value
        return name

    def _resolve(self, name: str, namespace: str) -> str | None:
        for full in (f"{namespace}.{name}" if namespace else name, name):
            if full in self.named:
                return full
        return None

    def record_function(self, schema: dict[str, Any], namespace: str) -> str:
        full, space = full_name(schema, namespace)
        function = self._name("R")
        self.functions[full] = function
        self.named[full] = schema
        body: list[str] = []
        fields = []
        for field in schema["fields"]:
            target = self._name("f")
            body += self._read(field["type"], space, target)
            fields.append(f"{field['name']!r}: {target}")
        body.append("return {" + ", ".join(fields) + "}, i")
        self.lines += [f"def {function}(b, i):", *("    " + line for line in body), ""]
        return function

    def _read(self, schema: Any, namespace: str, out: str) -> list[str]:
        """Lines that read a value of `schema` at b[i] into `out` and move i past it."""
        if isinstance(schema, list):
            return self._union(schema, namespace, out)
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return self._primitive(schema, out)
            full = self._resolve(schema, namespace)
            if full is None:
                raise Unsupported(f"type {schema!r}")
            definition = self.named[full]
            if definition["type"] == "record":
                return [f"{out}, i = {self.functions[full]}(b, i)"]
            return self._read(definition, full.rpartition(".")[0], out)
        if not isinstance(schema, dict):
            raise Unsupported(f"type {schema!r}")
        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical is not None and isinstance(kind, str):
            lines = self._read(kind, namespace, out)
            reader = LOGICAL_READERS.get(f"{kind}-{logical}")
            if reader is not None:  # fastavro reads an unknown one as its underlying type
                convert, written = self._constant(reader, "C"), self._constant(schema, "S")
                lines.append(f"{out} = {convert}({out}, {written}, None)")
            return lines
        if kind == "record":
            return [f"{out}, i = {self.record_function(schema, namespace)}(b, i)"]
        if kind == "enum":
            full, _ = full_name(schema, namespace)
            self.named[full] = schema
            symbols = self._constant(tuple(schema["symbols"]), "E")
            return [f"{out}, i = IDX(b, i, {len(schema['symbols'])})",
                    f"{out} = {symbols}[{out}]"]
        if kind == "fixed":
            full, _ = full_name(schema, namespace)
            self.named[full] = schema
            size = int(schema["size"])
            return [f"{out} = b[i:i + {size}]", f"i += {size}"]
        if kind == "array":
            return self._blocks(schema["items"], namespace, out, keyed=False)
        if kind == "map":
            return self._blocks(schema["values"], namespace, out, keyed=True)
        if isinstance(kind, str | list | dict):
            return self._read(kind, namespace, out)
        raise Unsupported(f"type {kind!r}")

    def _primitive(self, kind: str, out: str) -> list[str]:
        if kind == "null":
            return [f"{out} = None"]
        if kind == "boolean":
            return [f"{out} = b[i] != 0", "i += 1"]
        if kind in ("int", "long"):
            # One byte (-64…63) inline: versions, flags, small counts.
            return [f"{out} = b[i]", f"if {out} < 128:", "    i += 1",
                    f"    {out} = ({out} >> 1) ^ -({out} & 1)",
                    "else:", f"    {out}, i = V(b, i)"]
        if kind == "float":
            return [f"{out} = F32(b, i)[0]", "i += 4"]
        if kind == "double":
            return [f"{out} = F64(b, i)[0]", "i += 8"]
        # bytes, string: a length, then that many bytes (lengths below 64 inline). A
        # length past the end is not checked here: the slice comes back short, the
        # offset goes past the end, and the caller, finding the record did not end where
        # the bytes do, asks fastavro (a later read past the end raises meanwhile).
        take = "b[i:j].decode()" if kind == "string" else "b[i:j]"
        return ["n = b[i]", "if n < 128 and not n & 1:", "    i += 1", "    n >>= 1",
                "else:", "    n, i = LEN(b, i)", "j = i + n", f"{out} = {take}", "i = j"]

    def _union(self, branches: list[Any], namespace: str, out: str
               ) -> list[str]:  # fmt: skip
        named, records = 0, 0
        for branch in branches:
            kind = branch["type"] if isinstance(branch, dict) else branch
            if isinstance(branch, list):
                raise Unsupported("a union inside a union")
            if kind == "record" or kind not in AVRO_TYPES:
                records += 1
                named += 1
            elif kind in ("enum", "fixed"):
                named += 1
        if len(branches) > 64:
            raise Unsupported("a union of more than 64 branches")
        single_record = records == 1
        # The branch's index is one byte (zig-zag: index k is the byte 2k); any other
        # byte is left to fastavro.
        index = self._name("u")
        lines = [f"{index} = b[i]", "i += 1"]
        for number, branch in enumerate(branches):
            branch_lines = self._read(branch, namespace, out)
            name = self._union_name(branch, namespace)
            if name is not None and not single_record:
                branch_lines.append(f"{out} = ({name!r}, {out})")
            lines.append(f"{'if' if number == 0 else 'elif'} {index} == {2 * number}:")
            lines += ["    " + line for line in branch_lines]
        lines += ["else:", "    raise Unusual('union index')"]
        return lines

    def _union_name(self, branch: Any, namespace: str) -> str | None:
        """The name fastavro pairs a union's branch with (return_record_name): a record
        defined in the union, or any named type referred to by name."""
        if isinstance(branch, dict) and branch["type"] == "record":
            return full_name(branch, namespace)[0]
        if isinstance(branch, str) and branch not in AVRO_TYPES:
            return self._resolve(branch, namespace)
        return None

    def _blocks(self, item: Any, namespace: str, out: str, *, keyed: bool
                ) -> list[str]:  # fmt: skip
        """An array's or a map's blocks: a count, the items, until a count of 0 (a
        negative count is followed by the block's size in bytes)."""
        count, value, key = self._name("c"), self._name("v"), self._name("k")
        inner = self._read(item, namespace, value)
        if keyed:
            inner = self._primitive("string", key) + inner + [f"{out}[{key}] = {value}"]
        else:
            inner = [*inner, f"{out}.append({value})"]
        return [
            f"{out} = {{}}" if keyed else f"{out} = []",
            f"{count}, i = V(b, i)",
            f"while {count}:",
            f"    if {count} < 0:",
            f"        {count} = -{count}",
            "        _, i = V(b, i)",
            f"    for _ in range({count}):",
            *("        " + line for line in inner),
            f"    {count}, i = V(b, i)",
        ]
