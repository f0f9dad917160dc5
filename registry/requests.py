"""Change requests at the edge: the decoded Avro record checked field by field.

A malformed field becomes a rejection that names the field, the value and the rule.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.errors import DomainError
from domain.identity import CitizenId, masked
from domain.vocabulary import OrganisationKind, OrganisationLevel

Text = Annotated[str, Field(min_length=1, max_length=200)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$")]

REQUEST_SCHEMA = "registry.requests.ChangeRequest"


class _Change(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    needs_member: bool = Field(default=True, exclude=True)


class EstablishOrganisation(_Change):
    needs_member: bool = Field(default=False, exclude=True)
    code: Code
    name: Text
    kind: OrganisationKind
    level: OrganisationLevel
    parent_code: Code | None = None
    registration_number: Text | None = None
    supervising_body: Text | None = None


class RenameOrganisation(_Change):
    needs_member: bool = Field(default=False, exclude=True)
    organisation_code: Code
    name: Text


class ReparentOrganisation(_Change):
    needs_member: bool = Field(default=False, exclude=True)
    organisation_code: Code
    parent_code: Code


class ApplyForMembership(_Change):
    name: Text
    ethnicity: Text
    education: Text
    occupation: Text
    phone: Annotated[str, Field(min_length=3, max_length=32, pattern=r"^[0-9+() -]+$")]
    address: Text
    organisation_code: Code


class AdmitActivist(_Change):
    pass


class StartTransfer(_Change):
    to_organisation_code: Code
    letter_number: Text
    valid_days: Annotated[int, Field(ge=1)] | None = None


class AcceptTransfer(_Change):
    letter_number: Text


class RefuseTransfer(_Change):
    letter_number: Text
    reason: Text


CHANGES: dict[str, type[_Change]] = {
    cls.__name__: cls
    for cls in (
        EstablishOrganisation,
        RenameOrganisation,
        ReparentOrganisation,
        ApplyForMembership,
        AdmitActivist,
        StartTransfer,
        AcceptTransfer,
        RefuseTransfer,
    )
}


class ChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: Annotated[str, Field(min_length=1, max_length=128)]
    source_system: Code
    acting_organisation: Code
    effective_date: date
    member_citizen_id: str | None = None
    change: _Change

    @field_validator("member_citizen_id")
    @classmethod
    def _valid_citizen_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return CitizenId.parse(value).number
        except DomainError as error:
            # The rule in words, never the full number (outcomes are published).
            raise ValueError(error.message) from None

    @property
    def citizen_id(self) -> CitizenId:
        if self.member_citizen_id is None:
            raise DomainError(
                "INVALID_REQUEST",
                f"{type(self.change).__name__} needs member_citizen_id",
                field="member_citizen_id",
                value="null",
            )
        return CitizenId.parse(self.member_citizen_id)


def parse_request(record: dict[str, Any]) -> ChangeRequest:
    """A decoded Avro record as a checked request; raises DomainError(INVALID_REQUEST)."""
    change = record.get("change")
    if not (isinstance(change, tuple) and len(change) == 2):
        raise DomainError("INVALID_REQUEST", "change is not a known request record", field="change")
    full_name, fields = change
    change_cls = CHANGES.get(full_name.rsplit(".", 1)[-1])
    if change_cls is None:
        raise DomainError(
            "INVALID_REQUEST",
            "change is not a known request record",
            field="change",
            value=str(full_name),
        )
    try:
        parsed_change = change_cls(**fields)
    except ValidationError as error:
        raise _invalid(error, prefix="change.") from None
    try:
        request = ChangeRequest(**{**record, "change": parsed_change})
    except ValidationError as error:
        raise _invalid(error, prefix="") from None
    if request.change.needs_member and request.member_citizen_id is None:
        raise DomainError(
            "INVALID_REQUEST",
            f"{full_name.rsplit('.', 1)[-1]} needs member_citizen_id",
            field="member_citizen_id",
            value="null",
        )
    return request


def _invalid(error: ValidationError, prefix: str) -> DomainError:
    problems = error.errors(include_url=False)
    values: dict[str, str] = {}
    for problem in problems:
        field = prefix + ".".join(str(part) for part in problem["loc"])
        shown = problem.get("input")
        if field.endswith("citizen_id"):
            shown = masked(str(shown))
        rule = problem["msg"].removeprefix("Value error, ")
        values[field] = f"{shown!r}: {rule}"
    first = next(iter(values))
    return DomainError(
        "INVALID_REQUEST", f"{len(values)} field(s) break their rule, first {first}", **values
    )
