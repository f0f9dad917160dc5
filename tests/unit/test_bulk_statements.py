"""The set-based statements of projections/apply/bulk.py, on both engines: values come
back exactly as given, whatever text they hold."""

from __future__ import annotations

from typing import Any

import pytest

from projections.apply.bulk import insert_keys, update_rows
from projections.apply.members import MEMBER_COLUMNS
from projections.database import UNIQUE_VIOLATION, Database
from tests.unit.projection_events import db_fixture  # noqa: F401


def _member(member_id: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(MEMBER_COLUMNS)
    row.update(id=member_id, name=f"name {member_id}", sex="FEMALE", birth_date="1990-01-01",
               ethnicity="E", education="U", occupation="O", organisation_id="org",
               stage="APPLICANT", stage_since="2020-01-01", applied_on="2020-01-01",
               episode=1, status="ACTIVE", standing="NORMAL")  # fmt: skip
    row.update(values)
    return row


def _stored(db: Database) -> dict[str, dict[str, Any]]:
    rows = db.query(f"SELECT {', '.join(MEMBER_COLUMNS)} FROM rm_members")
    return {row[0]: dict(zip(MEMBER_COLUMNS, row, strict=True)) for row in rows}


def _insert(db: Database, rows: list[dict[str, Any]]) -> None:
    with db.transaction() as cur:
        cur.insert_rows("rm_members", MEMBER_COLUMNS,
                        [tuple(r[c] for c in MEMBER_COLUMNS) for r in rows])  # fmt: skip


@pytest.mark.parametrize(
    "name",
    ["plain", "a\x1fseparator inside", "\x1e", "null marker \x1e inside", "None", ""],
)
def test_updated_rows_hold_exactly_the_values_given(db: Database, name: str) -> None:
    _insert(db, [_member("a"), _member("b"), _member("c", transfer_to="t")])
    changed = [
        _member("a", name=name, stage="ACTIVIST", activist_since="2021-02-03", episode=2),
        _member("c", name="other", transfer_to=None, community_id=name),
    ]
    with db.transaction() as cur:
        update_rows(cur, "rm_members", "id", MEMBER_COLUMNS[1:], changed,
                    casts={"episode": "integer"})  # fmt: skip
    stored = _stored(db)
    assert stored["a"] == changed[0]
    assert stored["c"] == changed[1]
    assert stored["b"] == _member("b")  # not in the update: untouched


def test_a_key_inserted_twice_fails_the_statement(db: Database) -> None:
    with db.transaction() as cur:
        insert_keys(cur, "rm_versions", "aggregate_id", "version", [("b", 1), ("a", 2)])
    assert sorted(db.query("SELECT aggregate_id, version FROM rm_versions")) == [
        ("a", 2), ("b", 1)]  # fmt: skip
    with pytest.raises(UNIQUE_VIOLATION), db.transaction() as cur:
        insert_keys(cur, "rm_versions", "aggregate_id", "version", [("c", 1), ("a", 3)])
    # Rolled back whole: the new key did not stay either.
    assert sorted(db.query("SELECT aggregate_id, version FROM rm_versions")) == [
        ("a", 2), ("b", 1)]  # fmt: skip
