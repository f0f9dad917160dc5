"""The FULL-transitive compatibility checker, and the repository's schemas passing it."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from schemas import compat

REPO = Path(__file__).resolve().parents[2]


def record(*fields: dict[str, Any], name: str = "Thing") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "test", "doc": "x",
            "fields": list(fields)}


def field(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def enum(symbols: list[str], default: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"type": "enum", "name": "Colour", "symbols": symbols}
    if default is not None:
        e["default"] = default
    return e


BASE = record(field("id", "string"), field("count", "int"),
              field("colour", enum(["RED", "GREEN"], default="RED")))


def changed(fn: Any) -> dict[str, Any]:
    new = copy.deepcopy(BASE)
    fn(new)
    return new


def official_reads(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
    result = ReaderWriterCompatibilityChecker().get_compatibility(
        avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer)))
    return result.compatibility is SchemaCompatibilityType.compatible


COMPATIBLE = {
    "unchanged": BASE,
    "field added with default": changed(lambda s: s["fields"].append(
        field("note", ["null", "string"], default=None))),
    "field with default removed": changed(lambda s: s["fields"].append(
        field("gone", "long", default=0))),
    "enum symbol added, enum has default": changed(lambda s: s["fields"][2]["type"]
                                                   ["symbols"].append("BLUE")),
    "doc changed": changed(lambda s: s.update(doc="other words")),
}

INCOMPATIBLE = {
    "field added without default": (
        changed(lambda s: s["fields"].append(field("note", "string"))), "no default"),
    "type changed": (
        changed(lambda s: s["fields"][1].update(type="string")), "cannot read"),
    "record renamed": (changed(lambda s: s.update(name="Other")), "cannot read"),
}


@pytest.mark.parametrize("name", COMPATIBLE)
def test_accepts_compatible_change(name: str) -> None:
    new = COMPATIBLE[name]
    assert compat.full_problems(new, BASE) == []
    # The official library agrees on the rules the specification states.
    assert official_reads(new, BASE) and official_reads(BASE, new)


@pytest.mark.parametrize("name", INCOMPATIBLE)
def test_rejects_incompatible_change(name: str) -> None:
    new, words = INCOMPATIBLE[name]
    problems = compat.full_problems(new, BASE)
    assert problems and any(words in p for p in problems), problems
    assert not (official_reads(new, BASE) and official_reads(BASE, new))


def test_widening_int_to_long_reads_old_data() -> None:
    wide = changed(lambda s: s["fields"][1].update(type="long"))
    assert compat.reader_problems(wide, BASE) == []
    # A long may not fit an int, so the old reader cannot read new data: not FULL.
    assert compat.reader_problems(BASE, wide)
    for writer, readers in {"int": ["long", "float", "double"], "long": ["float", "double"],
                            "float": ["double"], "string": ["bytes"], "bytes": ["string"]
                            }.items():
        for reader in readers:
            assert compat.reader_problems(reader, writer) == [], (reader, writer)


def test_removing_a_field_without_default_breaks_old_readers() -> None:
    fewer = changed(lambda s: s["fields"].pop(1))
    assert compat.reader_problems(fewer, BASE) == []
    assert any("'count'" in p and "no default" in p for p in compat.reader_problems(BASE, fewer))


def test_enum_symbol_removed_without_default_rejected() -> None:
    old = record(field("colour", enum(["RED", "GREEN", "BLUE"])))
    new = record(field("colour", enum(["RED", "GREEN"])))
    problems = compat.full_problems(new, old)
    assert any("BLUE" in p and "no default" in p for p in problems), problems
    # With a default on the reader the removed symbol reads as the default.
    assert compat.reader_problems(record(field("colour", enum(["RED", "GREEN"], "RED"))),
                                  old) == []


def test_enum_symbol_added_without_default_breaks_old_readers() -> None:
    old = record(field("colour", enum(["RED"])))
    new = record(field("colour", enum(["RED", "GREEN"])))
    assert compat.reader_problems(new, old) == []
    assert compat.reader_problems(old, new)


def test_unions_arrays_maps_fixed_and_recursion() -> None:
    assert compat.reader_problems(["null", "string"], "string") == []
    assert compat.reader_problems("string", ["null", "string"])  # null has nowhere to go
    assert compat.reader_problems(["null", "long"], ["null", "int"]) == []
    assert compat.reader_problems({"type": "array", "items": "long"},
                                  {"type": "array", "items": "int"}) == []
    assert compat.reader_problems({"type": "map", "values": "int"},
                                  {"type": "map", "values": "long"})
    fixed = {"type": "fixed", "name": "F", "size": 4}
    assert compat.reader_problems(fixed, {**fixed, "size": 8})
    node = record(field("next", ["null", "Thing"], default=None))
    assert compat.full_problems(node, node) == []


def test_logical_type_change_rejected_although_bytes_resolve() -> None:
    date = record(field("on", {"type": "int", "logicalType": "date"}))
    millis = record(field("on", {"type": "int", "logicalType": "time-millis"}))
    assert any("logical type" in p for p in compat.full_problems(millis, date))


def test_aliases_allow_renames() -> None:
    renamed = changed(lambda s: s.update(name="Other", aliases=["test.Thing"]))
    assert compat.reader_problems(renamed, BASE) == []


def test_bad_default_is_a_schema_error() -> None:
    with pytest.raises(compat.SchemaError):
        compat.normalise(record(field("x", ["null", "string"], default="text")))


def test_freeze_adds_a_version_only_when_the_canonical_form_changes(tmp_path: Path) -> None:
    current = tmp_path / "X.avsc"
    history = tmp_path / "history"
    current.write_text(json.dumps(BASE))
    assert [p.name for p in compat.freeze([current], history)] == ["1.avsc"]
    current.write_text(json.dumps({**BASE, "doc": "docs do not change the fingerprint"}))
    assert compat.freeze([current], history) == []
    current.write_text(json.dumps(COMPATIBLE["field added with default"]))
    assert [p.name for p in compat.freeze([current], history)] == ["2.avsc"]
    assert compat.check([current], history) == []


def test_check_names_schema_version_and_problem(tmp_path: Path) -> None:
    current = tmp_path / "X.avsc"
    history = tmp_path / "history"
    current.write_text(json.dumps(BASE))
    compat.freeze([current], history)
    current.write_text(json.dumps(INCOMPATIBLE["type changed"][0]))
    errors = compat.check([current], history)
    assert errors
    assert all(e.startswith("test.Thing: X.avsc (current) vs history ") for e in errors)
    assert any("1.avsc" in e and "/count" in e and "int" in e and "string" in e
               for e in errors), errors


def test_check_reads_git_history(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    schema = tmp_path / "X.avsc"
    schema.write_text(json.dumps(BASE))
    git("add", "X.avsc")
    git("commit", "-q", "-m", "v1")
    schema.write_text(json.dumps(INCOMPATIBLE["field added without default"][0]))
    errors = compat.check([schema], tmp_path / "no-history")
    assert any("git " in e and "'note'" in e for e in errors), errors


def test_repository_schemas_are_full_transitive_compatible() -> None:
    """CI fails here when a change to schemas/ breaks a published version."""
    errors = compat.check()
    assert errors == [], "\n".join(errors)


def test_every_current_schema_is_frozen() -> None:
    """A new or changed schema needs `python -m schemas.compat freeze` before it ships,
    so that consumers' catalogs know its fingerprint."""
    for path in compat.current_files():
        source = json.loads(path.read_text(encoding="utf-8"))
        frozen = compat.frozen_versions(compat.full_name(source))
        assert frozen, f"{path.name}: run python -m schemas.compat freeze"
        newest = json.loads(frozen[-1][1].read_text(encoding="utf-8"))
        assert compat.canonical(newest) == compat.canonical(source), (
            f"{path.name} changed since its last frozen version: "
            "run python -m schemas.compat freeze")


def test_cli_exit_codes() -> None:
    ok = subprocess.run([sys.executable, "-m", "schemas.compat", "check"], cwd=REPO,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([sys.executable, "-m", "schemas.compat", "nonsense"], cwd=REPO,
                         capture_output=True, text=True)
    assert bad.returncode == 2

