"""FULL-transitive compatibility of the published schemas (ARCHITECTURE.md, principle 5).

Every current schema must read data written with every earlier version, and every
earlier version must read data written with the current one. Earlier versions are
the frozen copies in `schemas/history/<FullName>/<n>.avsc` and every committed
version of the same `.avsc` file in git.

The reader/writer rules are the Avro specification's "Schema Resolution", written
out here rather than taken from `avro.compatibility`: that module is only in the
test extras, reports locations without field names, and ignores logical types.
This checker is stricter than the specification in two places, both because
consumers of a public contract use several libraries:
  * named types must keep their full name (or the reader lists the old one in
    `aliases`): some libraries compare full names, not unqualified ones;
  * a logical type (and a decimal's precision and scale) may not change: the bytes
    would still resolve, but a date read as a timestamp is a silent misreading.

    python -m schemas.compat check    # exit 1 and name every incompatible pair
    python -m schemas.compat freeze   # add changed schemas to schemas/history/
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro.schema import to_parsing_canonical_form

SCHEMA_DIR = Path(__file__).parent
CURRENT_DIRS = ("events", "requests")
HISTORY_DIR = SCHEMA_DIR / "history"

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "enum", "fixed"})
# writer type -> reader types that can read it (the specification's promotions)
PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}


class SchemaError(ValueError):
    """The schema itself is malformed (unknown type name, bad default, ...)."""


# ---------------------------------------------------------------- normal form


def normalise(schema: Any) -> dict[str, Any]:
    """The schema as a graph of dicts: named references resolved to the one shared node,
    full names filled in, primitives as `{"type": name}`. Recursive types become cycles."""
    return _norm(schema, "", {})


def _norm(schema: Any, namespace: str, names: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if isinstance(schema, list):
        return {"type": "union", "branches": [_norm(s, namespace, names) for s in schema]}
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return {"type": schema}
        full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
        for candidate in (full, schema):
            if candidate in names:
                return names[candidate]
        raise SchemaError(f"unknown type name {schema!r}")
    if not isinstance(schema, dict) or "type" not in schema:
        raise SchemaError(f"not a schema: {schema!r}")
    kind = schema["type"]
    if not isinstance(kind, str) or kind not in PRIMITIVES | NAMED | {"array", "map"}:
        return _norm(kind, namespace, names)  # {"type": <another schema or a name>}
    logical = {k: schema[k] for k in ("logicalType", "precision", "scale") if k in schema}
    if kind in PRIMITIVES:
        return {"type": kind, **logical}
    if kind == "array":
        return {"type": "array", "items": _norm(schema["items"], namespace, names)}
    if kind == "map":
        return {"type": "map", "values": _norm(schema["values"], namespace, names)}
    name = schema["name"]
    if "." in name:
        full = name
    else:
        ns = schema.get("namespace", namespace)
        full = f"{ns}.{name}" if ns else name
    own_ns = full.rpartition(".")[0]
    node: dict[str, Any] = {"type": kind, "name": full, **logical}
    node["aliases"] = {a if "." in a or not own_ns else f"{own_ns}.{a}"
                       for a in schema.get("aliases", [])}
    # Registered before the fields so that a field may refer to its own record.
    names[full] = node
    if kind == "enum":
        node["symbols"] = list(schema["symbols"])
        node["default"] = schema.get("default")
    elif kind == "fixed":
        node["size"] = schema["size"]
    else:
        node["fields"] = []
        for f in schema["fields"]:
            field = {"name": f["name"], "type": _norm(f["type"], own_ns, names),
                     "aliases": list(f.get("aliases", []))}
            if "default" in f:
                field["default"] = f["default"]
                if not _default_fits(field["type"], f["default"]):
                    raise SchemaError(
                        f"{full}.{f['name']}: default {f['default']!r} does not fit its type")
            node["fields"].append(field)
    return node


def _default_fits(node: dict[str, Any], value: Any) -> bool:
    kind = node["type"]
    if kind == "union":  # the specification: a union's default belongs to its first branch
        return _default_fits(node["branches"][0], value)
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("int", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in ("float", "double"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in ("string", "bytes", "fixed"):
        return isinstance(value, str)
    if kind == "enum":
        return value in node["symbols"]
    if kind == "array":
        return isinstance(value, list) and all(_default_fits(node["items"], v) for v in value)
    if kind == "map":
        return isinstance(value, dict) and all(_default_fits(node["values"], v)
                                               for v in value.values())
    if kind == "record":
        return isinstance(value, dict) and all(
            (f["name"] in value and _default_fits(f["type"], value[f["name"]])) or "default" in f
            for f in node["fields"])
    return False


# ---------------------------------------------------------------- resolution


def _label(node: dict[str, Any]) -> str:
    if node["type"] in NAMED:
        return f"{node['type']} {node['name']}"
    if node["type"] == "union":
        return "[" + ", ".join(_label(b) for b in node["branches"]) + "]"
    return node["type"] + (f" ({node['logicalType']})" if "logicalType" in node else "")


def _matches(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
    """The specification's top-level match, which picks the union branch to resolve."""
    r, w = reader["type"], writer["type"]
    if r in NAMED or w in NAMED:
        return r == w and (reader["name"] == writer["name"] or writer["name"] in reader["aliases"])
    return r == w or r in PROMOTIONS.get(w, ())


def reader_problems(reader: Any, writer: Any) -> list[str]:
    """Why `reader` cannot read every datum written with `writer`; empty when it can."""
    problems: list[str] = []
    _resolve(normalise(reader), normalise(writer), "", problems, set())
    return problems


def _resolve(r: dict[str, Any], w: dict[str, Any], at: str, out: list[str],
             seen: set[tuple[int, int]]) -> None:
    pair = (id(r), id(w))
    if pair in seen:  # recursive types: this pair is already being checked higher up
        return
    seen.add(pair)
    where = at or "/"
    if w["type"] == "union":
        for i, branch in enumerate(w["branches"]):
            _resolve(r, branch, f"{at}[{i}]", out, seen)
        return
    if r["type"] == "union":
        exact = [b for b in r["branches"] if b["type"] == w["type"] and _matches(b, w)]
        loose = [b for b in r["branches"] if _matches(b, w)]
        chosen = (exact or loose or [None])[0]
        if chosen is None:
            out.append(f"{where}: reader union {_label(r)} has no branch for writer {_label(w)}")
        else:
            _resolve(chosen, w, at, out, seen)
        return
    if not _matches(r, w):
        out.append(f"{where}: reader {_label(r)} cannot read writer {_label(w)}")
        return
    logical_r = tuple(r.get(k) for k in ("logicalType", "precision", "scale"))
    logical_w = tuple(w.get(k) for k in ("logicalType", "precision", "scale"))
    if logical_r != logical_w:
        out.append(f"{where}: logical type changed: reader {_label(r)}, writer {_label(w)}")
    kind = r["type"]
    if kind == "array":
        _resolve(r["items"], w["items"], f"{at}/items", out, seen)
    elif kind == "map":
        _resolve(r["values"], w["values"], f"{at}/values", out, seen)
    elif kind == "fixed" and r["size"] != w["size"]:
        out.append(f"{where}: fixed {r['name']} size {w['size']} written, {r['size']} read")
    elif kind == "enum":
        missing = [s for s in w["symbols"] if s not in r["symbols"]]
        if missing and r["default"] not in r["symbols"]:
            out.append(f"{where}: enum {r['name']} lacks writer symbols {missing} "
                       "and has no default to read them as")
    elif kind == "record":
        written = {f["name"]: f for f in w["fields"]}
        for field in r["fields"]:
            path = f"{at}/{field['name']}"
            source = next((written[n] for n in [field["name"], *field["aliases"]]
                           if n in written), None)
            if source is not None:
                _resolve(field["type"], source["type"], path, out, seen)
            elif "default" not in field:
                out.append(f"{path}: reader field {field['name']!r} is not written and has "
                           "no default")


def full_problems(new: Any, old: Any) -> list[str]:
    """Both directions: new reads old (backward) and old reads new (forward)."""
    return ([f"new reader, old data: {p}" for p in reader_problems(new, old)]
            + [f"old reader, new data: {p}" for p in reader_problems(old, new)])


# ---------------------------------------------------------------- versions


@dataclass(frozen=True)
class Version:
    label: str  # where it came from, for messages
    source: dict[str, Any]


def full_name(source: dict[str, Any]) -> str:
    name = source["name"]
    return name if "." in name or not source.get("namespace") else f"{source['namespace']}.{name}"


def canonical(source: dict[str, Any]) -> str:
    return to_parsing_canonical_form(source)


def current_files(root: Path = SCHEMA_DIR) -> list[Path]:
    return sorted(p for d in CURRENT_DIRS for p in (root / d).glob("*.avsc"))


def frozen_versions(name: str, history: Path = HISTORY_DIR) -> list[tuple[int, Path]]:
    folder = history / name
    found = [(int(p.stem), p) for p in folder.glob("*.avsc") if p.stem.isdigit()]
    return sorted(found)


def git_versions(path: Path) -> list[Version]:
    """Every committed version of `path`; empty outside a git work tree."""
    path = path.resolve()
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path.parent,
                             capture_output=True, text=True, check=True).stdout.strip()
        rel = path.relative_to(Path(top).resolve()).as_posix()
        commits = subprocess.run(["git", "log", "--format=%H", "--", rel], cwd=top,
                                 capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError, ValueError):
        return []
    versions = []
    for sha in commits:
        shown = subprocess.run(["git", "show", f"{sha}:{rel}"], cwd=top,
                               capture_output=True, text=True)
        if shown.returncode != 0:  # the commit deleted the file
            continue
        try:
            source = json.loads(shown.stdout)
        except json.JSONDecodeError:
            print(f"warning: {rel} at {sha[:12]} is not JSON; skipped", file=sys.stderr)
            continue
        versions.append(Version(f"git {sha[:12]}:{rel}", source))
    return versions


def earlier_versions(path: Path, history: Path = HISTORY_DIR) -> list[Version]:
    source = json.loads(path.read_text(encoding="utf-8"))
    versions = [Version(f"history {p.relative_to(history.parent.parent).as_posix()}",
                        json.loads(p.read_text(encoding="utf-8")))
                for _, p in frozen_versions(full_name(source), history)]
    versions += git_versions(path)
    unique: dict[str, Version] = {}
    for v in versions:  # the same text in history and in several commits is checked once
        unique.setdefault(json.dumps(v.source, sort_keys=True), v)
    return list(unique.values())


def check(files: Iterable[Path] | None = None, history: Path = HISTORY_DIR) -> list[str]:
    """Every incompatibility between a current schema and one of its earlier versions."""
    errors = []
    for path in current_files() if files is None else files:
        try:
            current = json.loads(path.read_text(encoding="utf-8"))
            normalise(current)
        except (json.JSONDecodeError, SchemaError, KeyError) as exc:
            errors.append(f"{path}: not a valid schema: {exc}")
            continue
        name = full_name(current)
        for version in earlier_versions(path, history):
            try:
                problems = full_problems(current, version.source)
            except (SchemaError, KeyError) as exc:
                problems = [f"earlier version is not a valid schema: {exc}"]
            errors += [f"{name}: {path.name} (current) vs {version.label}: {p}"
                       for p in problems]
    return errors


def freeze(files: Iterable[Path] | None = None, history: Path = HISTORY_DIR) -> list[Path]:
    """Copy each current schema into history as version n+1 when its canonical form (so
    its fingerprint) differs from the newest frozen version. Returns the files written."""
    written = []
    for path in current_files() if files is None else files:
        text = path.read_text(encoding="utf-8")
        source = json.loads(text)
        name = full_name(source)
        frozen = frozen_versions(name, history)
        if frozen:
            newest = json.loads(frozen[-1][1].read_text(encoding="utf-8"))
            if canonical(newest) == canonical(source):
                continue
        number = frozen[-1][0] + 1 if frozen else 1
        target = history / name / f"{number}.avsc"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["check"]:
        errors = check()
        for e in errors:
            print(e, file=sys.stderr)
        if errors:
            print(f"{len(errors)} incompatibilities: schemas must stay FULL-transitive "
                  "compatible (ARCHITECTURE.md, principle 5)", file=sys.stderr)
            return 1
        print(f"{len(current_files())} schemas compatible with all earlier versions")
        return 0
    if args == ["freeze"]:
        for p in freeze():
            print(f"froze {p.relative_to(SCHEMA_DIR.parent)}")
        return 0
    print("usage: python -m schemas.compat check|freeze", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
