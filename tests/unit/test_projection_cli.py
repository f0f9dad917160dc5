"""The read-model commands of `registry`, against an embedded (SQLite) read model."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from projections.database import Database
from projections.tables import create_tables
from registry.cli import main
from registry.config import Settings
from tests.unit.projection_events import Feed, mid, oid


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("REGISTRY_DATABASE_URL", raising=False)
    db = Database(Settings(data_dir=tmp_path))
    create_tables(db)
    feed = Feed(db)
    feed.city()
    feed.full_member("甲", "XH-S1-C1")
    feed.applicant("乙", "XH-S1-C1")
    feed.apply("OrganisationCoordinationUnitJoined", oid("XH-S1"), date(2024, 1, 1),
               unit_organisation_id=oid("XH-S1-U1"))  # fmt: skip
    db.close()
    return tmp_path


def run(data_dir: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["--data-dir", str(data_dir), *argv])
    return code, capsys.readouterr().out


def test_query_commands(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(data_dir, capsys, "roster", "XH-S1-C1", "--limit", "1")
    page = json.loads(out)
    assert code == 0 and len(page["items"]) == 1 and page["next"]
    _, out = run(data_dir, capsys, "roster", "XH-S1-C1", "--after", page["next"])
    assert len(json.loads(out)["items"]) == 1
    _, out = run(data_dir, capsys, "where", str(mid("甲")), "--on", "2022-01-01")
    assert json.loads(out)["stage"] == "ACTIVIST"
    _, out = run(data_dir, capsys, "stats", "SH", "--from", "2023-01-01", "--to", "2023-12-31")
    assert json.loads(out)["admissions"] == 1
    _, out = run(data_dir, capsys, "report", "SH", "--year", "2024", "--format", "csv")
    assert out.splitlines()[0] == "section,key,value"
    _, out = run(data_dir, capsys, "report", "SH", "--year", "2024", "--half")
    assert json.loads(out)["as_of"] == "2024-06-30"
    _, out = run(data_dir, capsys, "compliance", "SH", "--on", "2025-01-01")
    views = json.loads(out)
    assert views["organisation"] == "SH"
    assert [a["name"] for a in views["applicants_without_talk"]] == ["乙"]
    _, out = run(data_dir, capsys, "coordination-body", "XH-S1")
    assert [u["code"] for u in json.loads(out)["units"]] == ["XH-S1-U1"]
    _, out = run(data_dir, capsys, "coordination-body", "XH-S1", "--on", "2023-12-31")
    assert json.loads(out)["units"] == []
    _, out = run(data_dir, capsys, "trail", "XH-S1-C1", "--limit", "2")
    assert len(json.loads(out)["items"]) == 2
    _, out = run(data_dir, capsys, "trail", str(mid("甲")))
    assert [t["version"] for t in json.loads(out)["items"]] == [1, 2, 3, 4, 5]
    _, out = run(data_dir, capsys, "rollup", "XH", "--as-of", "2025-12-31")
    assert json.loads(out)["by_stage"]["FULL"] == 1
    _, out = run(data_dir, capsys, "as-of", "XH", "2021-04-01", "--subtree")
    assert len(json.loads(out)["items"]) == 2


def test_unknown_code_is_an_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(data_dir), "rollup", "NOPE"]) == 1
    assert "NOPE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--data-dir", str(data_dir), "where", "x", "--on", "2025-02-30"])
