"""Change requests at the edge: each malformed field is named with its value and rule, the
two wire forms read the same, and the pydantic models agree with the .avsc files."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from domain.errors import DomainError
from domain.identity import check_character
from registry import requests as rq
from registry.client import RequestNotEncodable, change_request, encode_request
from schemas.catalog import load_catalog

REQUESTS = Path(__file__).resolve().parents[2] / "schemas" / "requests"
GOOD_ID = "11010119900517123" + check_character("11010119900517123")
BAD_CHECK = GOOD_ID[:17] + ("0" if GOOD_ID[17] != "0" else "1")


def request(kind: str, citizen: str | None = GOOD_ID, **fields: Any) -> dict[str, Any]:
    return change_request(
        request_id="r-1",
        source_system="unit-system",
        acting_organisation="SH-XH-S1",
        effective_date=date(2026, 1, 5),
        change=kind,
        member_citizen_id=citizen,
        **fields,
    )


def invalid(record: dict[str, Any]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        rq.parse_request(record)
    assert caught.value.code == "INVALID_REQUEST"
    return caught.value


@pytest.mark.parametrize(
    ("kind", "fields", "field", "shown", "rule"),
    [
        ("SetCircumstance", {"circumstance": "FLYING"}, "change.circumstance", "FLYING",
         "'RETIRED', 'LAID_OFF', 'MOBILE' or 'IN_SERVICE'"),
        ("SuspendMembership", {"reason": "BORED", "out_of_touch_since": None}, "change.reason",
         "BORED", "'LOST_CONTACT' or 'SETTLED_ABROAD'"),
        ("RegisterWithCommunity", {"community_code": "C 1"}, "change.community_code", "C 1",
         "should match pattern"),
        ("ExtendProbation", {"months": 0, "approved_on": date(2026, 1, 6)}, "change.months",
         "0", "greater than or equal to 1"),
        ("RecordTraining", {"days": -1, "hours": 0}, "change.days", "-1",
         "greater than or equal to 0"),
        ("RemoveMember", {"reason": ""}, "change.reason", "''", "at least 1 character"),
        ("CoverUnit", {"organisation_code": "JB", "unit_code": "x" * 65}, "change.unit_code",
         "xxxx", "at most 64 characters"),
        ("NameSponsors", {"sponsor_citizen_ids": [GOOD_ID, BAD_CHECK]},
         "change.sponsor_citizen_ids.1", "1101", "check character does not match"),
    ],
)  # fmt: skip
def test_a_malformed_field_names_field_value_and_rule(
    kind: str, fields: dict[str, Any], field: str, shown: str, rule: str
) -> None:
    citizen = None if kind == "CoverUnit" else GOOD_ID
    error = invalid(request(kind, citizen, **fields))
    assert field in error.values, error.values
    assert shown in error.values[field] and rule in error.values[field], error.values[field]


def test_citizen_ids_are_checked_and_never_shown_whole() -> None:
    error = invalid(request("RecordDeath", BAD_CHECK))
    assert "check character does not match" in error.values["member_citizen_id"]
    assert BAD_CHECK not in str(error.values)
    error = invalid(request("NameSponsors", sponsor_citizen_ids=[BAD_CHECK, "123"]))
    assert BAD_CHECK not in str(error.values)
    assert "must have 18 characters" in error.values["change.sponsor_citizen_ids.1"]
    wrong_date = "110101199002301234"
    error = invalid(request("RecordDeath", wrong_date[:17] + check_character(wrong_date[:17])))
    assert "birth date is not a real date" in error.values["member_citizen_id"]


def test_citizen_ids_in_digits_of_other_scripts_are_refused() -> None:
    # They pass str.isdigit() and int(); the number is hashed as ASCII into the id.
    for zero in (0x660, 0xFF10, 0x966):  # Arabic-Indic, fullwidth, Devanagari
        number = "".join(chr(zero + int(c)) for c in GOOD_ID[:17]) + GOOD_ID[17]
        error = invalid(request("RecordDeath", number))
        assert "must be 17 digits and a digit or X" in error.values["member_citizen_id"]
        assert number not in str(error.values)


def test_the_check_character_is_the_standards_and_takes_only_digits_0_to_9() -> None:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643-1999
    rng = random.Random(11643)
    for _ in range(2000):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        total = sum(int(digit) * weight for digit, weight in zip(first17, weights, strict=True))
        assert check_character(first17) == "10X98765432"[total % 11]
    assert check_character("11010519491231002") == "X"
    for wrong in ("1101051949123100", "1101051949123100A", "\u0661" * 17):
        with pytest.raises(ValueError):
            check_character(wrong)


def test_a_number_past_64_bits_is_not_encodable_rather_than_an_overflow() -> None:
    record = request("RecordTraining", days=10**30, hours=1)
    with pytest.raises(RequestNotEncodable, match="RecordTraining: a number does not fit"):
        encode_request(load_catalog(), record)


@pytest.mark.parametrize(
    ("kind", "fields", "field"),
    [
        ("RecordDeath", {"request_id": "r\x00x"}, "request_id"),
        ("RenameOrganisation", {"organisation_code": "SH-XH-S1", "name": "a\x00b"},
         "change.name"),
        ("StartTransfer", {"to_organisation_code": "SH-PD", "letter_number": "\x00"},
         "change.letter_number"),
        ("RemoveMember", {"reason": "gone\x00"}, "change.reason"),
    ],
)  # fmt: skip
def test_a_nul_character_is_refused_wherever_it_is(
    kind: str, fields: dict[str, Any], field: str
) -> None:
    """PostgreSQL's text cannot hold NUL: recorded, it stopped the projector at every
    read of its event (psycopg.DataError), so it is refused at the edge."""
    record = request(kind, None if kind == "RenameOrganisation" else GOOD_ID)
    record.update({k: v for k, v in fields.items() if k == "request_id"})
    record["change"] = (record["change"][0],
                        {**record["change"][1], **{k: v for k, v in fields.items()
                                                   if k != "request_id"}})  # fmt: skip
    error = invalid(record)
    assert "must not contain NUL" in error.values[field], error.values


def test_a_member_request_needs_the_member() -> None:
    error = invalid(request("EndPlacement", None))
    assert error.values == {"field": "member_citizen_id", "value": "null"}


def test_an_unknown_kind_is_refused() -> None:
    record = request("AdmitActivist")
    record["change"] = ("registry.requests.BecomeChairman", {})
    error = invalid(record)
    assert error.values == {"field": "change", "value": "registry.requests.BecomeChairman"}


def test_an_unknown_field_is_refused() -> None:
    error = invalid(request("RecordDeath", cause="illness"))
    assert "change.cause" in error.values


@pytest.mark.parametrize("kind", [cls.__name__ for cls in rq.STANDALONE_KINDS])
def test_a_standalone_kind_reads_like_a_union_branch(kind: str) -> None:
    """Encoded in its own schema, decoded and parsed: the same request comes back."""
    catalog = load_catalog()
    source = catalog.by_name[f"registry.requests.{kind}"].source
    cls = rq.CHANGES[kind]
    fields = {
        f["name"]: _sample(f) for f in source["fields"] if f["name"] not in rq.ENVELOPE_FIELDS
    }
    citizen = GOOD_ID if _needs_member(cls) else None
    name, record = catalog.decode(encode_request(catalog, request(kind, citizen, **fields)))
    assert name == f"registry.requests.{kind}"
    parsed = rq.parse_request(rq.as_envelope(name, record))
    assert type(parsed.change) is cls
    assert parsed.member_citizen_id == citizen
    assert parsed.effective_date == date(2026, 1, 5)


def _needs_member(cls: type) -> bool:
    return bool(cls.model_fields["needs_member"].default)


def _sample(field: dict[str, Any]) -> Any:
    samples = {
        "circumstance": "MOBILE",
        "reason": "LOST_CONTACT",
        "sponsor_citizen_ids": [GOOD_ID, GOOD_ID],
        "months": 6,
        "passed": True,
        "identity_verified": True,
        "days": 3,
        "hours": 0,
    }
    if field["name"] in samples:
        return samples[field["name"]]
    type_ = field["type"]
    if isinstance(type_, list):
        return None
    if isinstance(type_, dict) and type_.get("logicalType") == "date":
        return date(2026, 1, 6)
    return "X-1"


def _model_fields(cls: type) -> set[str]:
    return set(cls.model_fields) - {"needs_member"}


@pytest.mark.parametrize("cls", rq.STANDALONE_KINDS, ids=lambda c: c.__name__)
def test_each_standalone_schema_has_the_models_fields(cls: type) -> None:
    schema = json.loads((REQUESTS / f"{cls.__name__}.avsc").read_text(encoding="utf-8"))
    envelope = set(rq.ENVELOPE_FIELDS) - (set() if _needs_member(cls) else {"member_citizen_id"})
    assert {f["name"] for f in schema["fields"]} == envelope | _model_fields(cls)


def test_each_union_branch_has_the_models_fields() -> None:
    schema = json.loads((REQUESTS / "ChangeRequest.avsc").read_text(encoding="utf-8"))
    branches = {b["name"]: b for b in schema["fields"][-1]["type"]}
    assert set(branches) == {cls.__name__ for cls in rq.UNION_KINDS}
    for cls in rq.UNION_KINDS:
        assert {f["name"] for f in branches[cls.__name__]["fields"]} == _model_fields(cls)
