"""Error codes: stable, documented in docs/ERRORS.md, and every one the domain raises is known."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.errors import RULES, DomainError, rules_table_markdown

REPO = Path(__file__).resolve().parents[2]
# Codes the domain defines for the layers around it (ingest, authorisation).
RAISED_OUTSIDE_DOMAIN = {
    "UNKNOWN_ORGANISATION",
    "ORGANISATION_EXISTS",
    "UNKNOWN_MEMBER",
    "UNKNOWN_SOURCE_SYSTEM",
    "DUPLICATE_REQUEST_ID_CONFLICT",
    "NOT_PROCESSED",
}


def test_docs_errors_md_is_generated_from_rules() -> None:
    text = (REPO / "docs" / "ERRORS.md").read_text(encoding="utf-8")
    assert text == rules_table_markdown(), (
        "docs/ERRORS.md is stale: run python -m domain.errors > docs/ERRORS.md"
    )


def test_table_lists_every_code_once() -> None:
    table = rules_table_markdown()
    for code in RULES:
        assert table.count(f"| `{code}` |") == 1


def test_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        DomainError("NO_SUCH_CODE", "x")


def test_error_carries_code_rule_message_and_values() -> None:
    e = DomainError("TOO_YOUNG", "must be 18", age=17)
    assert (e.code, e.message, e.values, e.rule) == (
        "TOO_YOUNG",
        "must be 18",
        {"age": 17},
        RULES["TOO_YOUNG"],
    )
    assert str(e) == "TOO_YOUNG: must be 18"


def _domain_source() -> str:
    paths = [p for p in (REPO / "domain").glob("*.py") if p.name != "errors.py"]
    return "\n".join(p.read_text(encoding="utf-8") for p in paths)


def test_every_code_raised_in_the_domain_is_a_rule() -> None:
    raised = set(re.findall(r'DomainError\(\s*"([A-Z_]+)"', _domain_source()))
    assert raised <= set(RULES)


def test_every_rule_is_raised_somewhere() -> None:
    mentioned = set(re.findall(r'"([A-Z][A-Z_]+)"', _domain_source()))
    unused = set(RULES) - mentioned - RAISED_OUTSIDE_DOMAIN
    assert not unused, f"codes no code raises: {sorted(unused)}"
