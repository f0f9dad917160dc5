"""Change requests at the edge: the decoded Avro record checked field by field.

A malformed field becomes a rejection that names the field, the value and the rule.

Two wire forms carry the same requests (schemas/requests/):
  * `registry.requests.ChangeRequest`: an envelope and a `change` union of the first
    request kinds. The union is frozen: a new branch would leave every earlier reader
    with a branch it cannot read, which FULL-transitive compatibility forbids;
  * one top-level schema per later kind (`registry.requests.<Kind>`), the envelope
    fields beside the kind's own. A new kind is a new schema, so the contract grows
    without breaking any reader, as the events do (one schema per event type).
Both are turned into the same `ChangeRequest` model here.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.errors import DomainError
from domain.identity import CitizenId, masked
from domain.vocabulary import Circumstance, OrganisationKind, OrganisationLevel, SuspensionReason

Text = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=2000)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$")]

REQUEST_SCHEMA = "registry.requests.ChangeRequest"
REQUEST_NAMESPACE = "registry.requests"
# The envelope: the fields every request has, in either wire form.
ENVELOPE_FIELDS = (
    "request_id",
    "source_system",
    "acting_organisation",
    "effective_date",
    "member_citizen_id",
)


def _citizen_number(value: str) -> str:
    try:
        return CitizenId.parse(value).number
    except DomainError as error:
        # The rule in words, never the full number (outcomes are published).
        raise ValueError(error.message) from None


CitizenNumber = Annotated[str, AfterValidator(_citizen_number)]


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
    covered_units: Annotated[list[Code], Field(max_length=64)] = []


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


# -- the kinds after the frozen union: one top-level schema each ----------------------


class CoverUnit(_Change):
    needs_member: bool = Field(default=False, exclude=True)
    organisation_code: Code
    unit_code: Code


class ReleaseUnit(_Change):
    needs_member: bool = Field(default=False, exclude=True)
    organisation_code: Code
    unit_code: Code


class MergeOrganisation(_Change):
    needs_member: bool = Field(default=False, exclude=True)
    organisation_code: Code
    into_organisation_code: Code


class DissolveOrganisation(_Change):
    needs_member: bool = Field(default=False, exclude=True)
    organisation_code: Code


class AdmitDevelopmentTarget(_Change):
    pass


class RecordPoliticalReview(_Change):
    passed: bool


class RecordTraining(_Change):
    days: Annotated[int, Field(ge=0, le=366)] = 0
    hours: Annotated[int, Field(ge=0, le=10_000)] = 0


class NameSponsors(_Change):
    # How many, and who may sponsor, are the domain's rules (SPONSOR_COUNT,
    # SPONSOR_NOT_ELIGIBLE); the edge checks only each number's own validity.
    sponsor_citizen_ids: Annotated[list[CitizenNumber], Field(min_length=1, max_length=10)]


class _Approved(_Change):
    """A branch decision approved by a committee: the acting organisation approves."""

    approved_on: date


class AdmitProbationary(_Approved):
    delay_reason: Text | None = None
    exception_reason: Text | None = None


class ConvertToFull(_Approved):
    pass


class ExtendProbation(_Approved):
    months: Annotated[int, Field(ge=1, le=120)]


class CancelProbation(_Approved):
    reason: LongText


class OrderCorrection(_Change):
    ends_on: date


class EndCorrection(_Change):
    pass


class ImposePartyProbation(_Change):
    ends_on: date


class EndPartyProbation(_Change):
    pass


class SuspendMembership(_Change):
    reason: SuspensionReason
    out_of_touch_since: date | None = None


class RestoreMembership(_Change):
    pass


class WithdrawMembership(_Change):
    reason: LongText | None = None


class RemoveMember(_Change):
    reason: LongText


class ExpelMember(_Approved):
    reason: LongText


class RecordDeath(_Change):
    pass


class SetCircumstance(_Change):
    circumstance: Circumstance


class ClearCircumstance(_Change):
    circumstance: Circumstance


class RegisterWithCommunity(_Change):
    community_code: Code


class EndCommunityRegistration(_Change):
    pass


class RecordCommunityFeedback(_Change):
    community_code: Code
    to_organisation_code: Code | None = None
    summary: LongText


class PlaceMobileMember(_Change):
    organisation_code: Code
    identity_verified: bool
    card_number: Text | None = None


class EndPlacement(_Change):
    pass


class RenewTransfer(_Change):
    letter_number: Text
    valid_days: Annotated[int, Field(ge=1)] | None = None
    new_letter_number: Text | None = None


class RecordReturnSlip(_Change):
    letter_number: Text


class RecordApplicationTalk(_Change):
    held_by_code: Code | None = None


class RecordCommunityOpinion(_Change):
    community_code: Code
    summary: LongText
    favourable: bool


class JoinCoordinationBody(_Change):
    needs_member: bool = Field(default=False, exclude=True)
    street_code: Code
    unit_organisation_code: Code


class LeaveCoordinationBody(_Change):
    needs_member: bool = Field(default=False, exclude=True)
    street_code: Code
    unit_organisation_code: Code


# Kinds carried as branches of the frozen ChangeRequest union.
UNION_KINDS: tuple[type[_Change], ...] = (
    EstablishOrganisation,
    RenameOrganisation,
    ReparentOrganisation,
    ApplyForMembership,
    AdmitActivist,
    StartTransfer,
    AcceptTransfer,
    RefuseTransfer,
)
# Kinds carried as top-level schemas of their own, registry.requests.<Kind>.
STANDALONE_KINDS: tuple[type[_Change], ...] = (
    CoverUnit,
    ReleaseUnit,
    MergeOrganisation,
    DissolveOrganisation,
    AdmitDevelopmentTarget,
    RecordPoliticalReview,
    RecordTraining,
    NameSponsors,
    AdmitProbationary,
    ConvertToFull,
    ExtendProbation,
    CancelProbation,
    OrderCorrection,
    EndCorrection,
    ImposePartyProbation,
    EndPartyProbation,
    SuspendMembership,
    RestoreMembership,
    WithdrawMembership,
    RemoveMember,
    ExpelMember,
    RecordDeath,
    SetCircumstance,
    ClearCircumstance,
    RegisterWithCommunity,
    EndCommunityRegistration,
    RecordCommunityFeedback,
    PlaceMobileMember,
    EndPlacement,
    RenewTransfer,
    RecordReturnSlip,
    RecordApplicationTalk,
    RecordCommunityOpinion,
    JoinCoordinationBody,
    LeaveCoordinationBody,
)

CHANGES: dict[str, type[_Change]] = {cls.__name__: cls for cls in UNION_KINDS + STANDALONE_KINDS}
STANDALONE_SCHEMAS = frozenset(f"{REQUEST_NAMESPACE}.{cls.__name__}" for cls in STANDALONE_KINDS)


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
        return None if value is None else _citizen_number(value)

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


def as_envelope(schema_name: str, record: dict[str, Any]) -> dict[str, Any]:
    """A standalone request record in the union form: the envelope, and the kind's own
    fields as `change`, so that both wire forms are checked by the same code."""
    envelope = {k: record.get(k) for k in ENVELOPE_FIELDS}
    own = {k: v for k, v in record.items() if k not in ENVELOPE_FIELDS}
    return {**envelope, "change": (schema_name, own)}


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
    _refuse_nul(record, prefix="")  # its `change`, a tuple, is no text: checked next
    _refuse_nul(fields, prefix="change.")
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


def _refuse_nul(fields: dict[str, Any], prefix: str) -> None:
    """PostgreSQL's text cannot hold NUL (U+0000): a request with one would be recorded,
    then stop the projector at every read of its event (psycopg.DataError), so no text
    of a request may have one. Checked here, once a request, rather than by a validator
    on every field of every model (a few microseconds a request)."""
    values: dict[str, str] = {}
    for name, value in fields.items():
        texts = value if isinstance(value, list) else [value]
        for index, text in enumerate(texts):
            if isinstance(text, str) and "\x00" in text:
                field = prefix + name + (f".{index}" if isinstance(value, list) else "")
                shown = masked(text) if "citizen_id" in name else text
                values[field] = f"{shown!r}: must not contain NUL (U+0000)"
    if values:
        raise _fields_break_rules(values)


def _invalid(error: ValidationError, prefix: str) -> DomainError:
    problems = error.errors(include_url=False)
    values: dict[str, str] = {}
    for problem in problems:
        field = prefix + ".".join(str(part) for part in problem["loc"])
        shown = problem.get("input")
        if "citizen_id" in field:  # also each of sponsor_citizen_ids
            shown = (
                [masked(str(v)) for v in shown] if isinstance(shown, list) else masked(str(shown))
            )
        rule = problem["msg"].removeprefix("Value error, ")
        values[field] = f"{shown!r}: {rule}"
    return _fields_break_rules(values)


def _fields_break_rules(values: dict[str, str]) -> DomainError:
    """INVALID_REQUEST naming each field (as `values`: field → value shown and rule)."""
    first = next(iter(values))
    return DomainError(
        "INVALID_REQUEST", f"{len(values)} field(s) break their rule, first {first}", **values
    )
