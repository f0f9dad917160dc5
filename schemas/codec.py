"""Avro single-object encoding: `C3 01`, the 8-byte little-endian CRC-64-AVRO
fingerprint of the writer's schema, then the binary body (Avro specification,
"Single-object encoding"). Any Avro library can decode it from the schema alone.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas import compiled, compiled_reader

MARKER = b"\xc3\x01"
HEADER_LENGTH = len(MARKER) + 8


class DecodeError(ValueError):
    """The bytes are not a record this catalog can read; `reason` says why."""

    reason = "undecodable"


class BadMarker(DecodeError):
    reason = "bad-marker"


class UnknownFingerprint(DecodeError):
    reason = "unknown-fingerprint"


class CorruptBody(DecodeError):
    reason = "corrupt-body"


def schema_fingerprint(schema: dict[str, Any]) -> bytes:
    """The 8 bytes that follow the marker: CRC-64-AVRO of the parsing canonical form."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


def encode(parsed_schema: Any, fp: bytes, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    out.write(MARKER)
    out.write(fp)
    schemaless_writer(out, parsed_schema, record)
    return out.getvalue()


class Writer:
    """Encodes records of one schema, for a loop that writes many (the relay).

    fastavro's `schemaless_writer` parses its schema argument again on every call unless
    the schema carries fastavro's own "parsed" marker (`parse_schema` with its write
    hint, as the catalog parses too): parsed here once, a record costs about half as
    much. Same bytes as `encode`.

    Schemas the compiled encoder takes (schemas/compiled.py: every event schema) cost
    about a third again; a record that leaves out a field goes to fastavro, which
    writes the field's default."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.header = MARKER + schema_fingerprint(schema)
        self.fingerprint = self.header[len(MARKER) :]
        self._parsed = parse_schema(schema, named_schemas={})
        try:
            self._compiled: Callable[[dict[str, Any]], bytes] | None = (
                compiled.compile_schema(schema)
            )
        except compiled.Unsupported:
            self._compiled = None

    def encode(self, record: dict[str, Any]) -> bytes:
        if self._compiled is not None:
            try:
                return self.header + self._compiled(record)
            except compiled.NeedsDefault:
                pass
        return self.encode_with_fastavro(record)

    def encode_with_fastavro(self, record: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        out.write(self.header)
        schemaless_writer(out, self._parsed, record)
        return out.getvalue()


class BodyReader:
    """Decodes the records of one writer's schema, as `decode_body` does.

    With no reader schema to resolve into (every current schema), the body goes through
    the decoder compiled from the writer's schema (schemas/compiled_reader.py, less than
    half fastavro's time for a change request); the rest, and any record the compiled
    decoder leaves alone, through fastavro. The answer, and the error for bad bytes, are
    fastavro's either way."""

    def __init__(self, writer_source: dict[str, Any], writer_parsed: Any,
                 reader_parsed: Any | None = None) -> None:  # fmt: skip
        self._writer = writer_parsed
        self._reader = reader_parsed
        self._compiled: compiled_reader.Read | None = None
        if reader_parsed is None:
            with contextlib.suppress(compiled_reader.Unsupported):
                self._compiled = compiled_reader.compile_reader(writer_source)

    def decode(self, data: bytes) -> dict[str, Any]:
        """The record of a single-object encoding whose header the caller has read."""
        if self._compiled is not None:
            if type(data) is not bytes:
                data = bytes(data)
            try:
                record, end = self._compiled(data, HEADER_LENGTH)
            except Exception:  # fastavro gives the answer, or its error
                pass
            else:
                if end == len(data):
                    return record
        return self.decode_with_fastavro(data)

    def decode_with_fastavro(self, data: bytes) -> dict[str, Any]:
        return decode_body(memoryview(data)[HEADER_LENGTH:], self._writer, self._reader)


def writer_fingerprint(data: bytes) -> bytes:
    """The fingerprint in a single-object encoding's header."""
    if len(data) < HEADER_LENGTH or data[:2] != MARKER:
        raise BadMarker(f"not Avro single-object encoded: starts with {bytes(data[:2]).hex()!r}")
    return bytes(data[2:HEADER_LENGTH])


def decode_body(
    body: memoryview, writer_schema: Any, reader_schema: Any | None = None
) -> dict[str, Any]:
    stream = io.BytesIO(body)
    try:
        record = schemaless_reader(
            stream,
            writer_schema,
            reader_schema,
            # A union of several records (a request's `change`) comes back as
            # (record name, record), so the reader knows which branch it got.
            return_record_name=True,
            return_record_name_override=True,
        )
    except Exception as exc:
        # The reader parses untrusted bytes, and what it raises on nonsense depends on where
        # the nonsense lands (OverflowError for a date beyond year 9999, MemoryError for a
        # huge length, ...): any of them means the body does not match the schema, and
        # consumers must be able to dead-letter it on the one error type.
        raise CorruptBody(
            f"body does not match its schema: {exc.__class__.__name__}: {exc}"
        ) from None
    if stream.tell() != len(body):
        raise CorruptBody(f"{len(body) - stream.tell()} bytes left over after the record")
    return record  # type: ignore[return-value]
