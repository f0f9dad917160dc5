"""The Member aggregate: one person's standing, from application onwards.

Each public method checks every rule first and only then triggers its event, so a
refused command leaves the aggregate untouched.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError
from domain.identity import CitizenId, age_on
from domain.policy import DEFAULT_POLICY, Policy
from domain.provenance import Provenance
from domain.vocabulary import Sex, Stage


class Member(Aggregate):
    """A person known to the registry, identified by an opaque id (never the ID number)."""

    @staticmethod
    def create_id(member_id: UUID, **_: Any) -> UUID:
        return member_id

    @classmethod
    def apply(
        cls,
        *,
        member_id: UUID,
        citizen_id: CitizenId,
        name: str,
        ethnicity: str,
        education: str,
        occupation: str,
        phone: str,
        address: str,
        organisation_id: UUID,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> Member:
        _not_in_future(effective_date, recorded_on)
        _old_enough(citizen_id, effective_date, policy)
        return cls(
            member_id=member_id,
            citizen_id=citizen_id.number,
            name=name,
            sex=citizen_id.sex.value,
            birth_date=citizen_id.birth_date,
            ethnicity=ethnicity,
            education=education,
            occupation=occupation,
            phone=phone,
            address=address,
            organisation_id=organisation_id,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("Applied")
    def __init__(
        self,
        *,
        member_id: UUID,
        citizen_id: str,
        name: str,
        sex: str,
        birth_date: date,
        ethnicity: str,
        education: str,
        occupation: str,
        phone: str,
        address: str,
        organisation_id: UUID,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.citizen_id = citizen_id
        self.name = name
        self.sex = Sex(sex)
        self.birth_date = birth_date
        self.ethnicity = ethnicity
        self.education = education
        self.occupation = occupation
        self.organisation_id = organisation_id
        self.stage: Stage = Stage.APPLICANT
        self.stage_since: date = effective_date
        self.applied_on: date = effective_date
        self.activist_since: date | None = None
        self.latest_effective_date: date = effective_date
        self.transfer: Transfer | None = None

    # -- development stages -------------------------------------------------

    def admit_as_activist(
        self, *, decided_by: UUID, effective_date: date, recorded_on: date, by: Provenance
    ) -> None:
        self._require_stage(Stage.APPLICANT, wanted=Stage.ACTIVIST)
        _not_in_future(effective_date, recorded_on)
        self._not_before(self.stage_since, effective_date, "application date")
        self._activist_admitted(
            decided_by=decided_by, effective_date=effective_date, **by.fields()
        )

    @event("ActivistAdmitted")
    def _activist_admitted(
        self, decided_by: UUID, effective_date: date, request_id: str, source_system: str
    ) -> None:
        self.stage = Stage.ACTIVIST
        self.stage_since = effective_date
        self.activist_since = effective_date
        self.latest_effective_date = max(self.latest_effective_date, effective_date)

    # -- transfer of the organisational relationship ------------------------

    def start_transfer(
        self,
        *,
        to_organisation_id: UUID,
        letter_number: str,
        valid_days: int | None,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        _not_in_future(effective_date, recorded_on)
        if self.transfer is not None:
            raise DomainError(
                "TRANSFER_IN_TRANSIT",
                "a transfer is already in transit",
                letter_number=self.transfer.letter_number,
            )
        if to_organisation_id == self.organisation_id:
            raise DomainError(
                "TRANSFER_TO_SAME_ORGANISATION",
                "the receiving organisation is the member's own",
                organisation_id=str(to_organisation_id),
            )
        days = policy.transfer_letter_default_days if valid_days is None else valid_days
        if not 1 <= days <= policy.transfer_letter_max_days:
            raise DomainError(
                "TRANSFER_VALIDITY_TOO_LONG",
                f"validity must be 1..{policy.transfer_letter_max_days} days",
                valid_days=days,
            )
        self._not_before(self.latest_effective_date, effective_date, "latest change")
        self._transfer_started(
            from_organisation_id=self.organisation_id,
            to_organisation_id=to_organisation_id,
            letter_number=letter_number,
            valid_until=effective_date + timedelta(days=days),
            effective_date=effective_date,
            **by.fields(),
        )

    @event("TransferStarted")
    def _transfer_started(
        self,
        from_organisation_id: UUID,
        to_organisation_id: UUID,
        letter_number: str,
        valid_until: date,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        # While in transit the sender stays responsible: organisation_id does not move.
        self.transfer = Transfer(
            letter_number=letter_number,
            from_organisation_id=from_organisation_id,
            to_organisation_id=to_organisation_id,
            started_on=effective_date,
            valid_until=valid_until,
        )
        self.latest_effective_date = max(self.latest_effective_date, effective_date)

    def accept_transfer(
        self, *, letter_number: str, effective_date: date, recorded_on: date, by: Provenance
    ) -> None:
        transfer = self._transfer_in_transit(letter_number)
        _not_in_future(effective_date, recorded_on)
        self._not_before(transfer.started_on, effective_date, "transfer letter date")
        if effective_date > transfer.valid_until:
            raise DomainError(
                "TRANSFER_EXPIRED",
                "the letter expired before it was accepted",
                valid_until=transfer.valid_until.isoformat(),
                effective_date=effective_date.isoformat(),
            )
        self._transfer_accepted(
            letter_number=letter_number,
            from_organisation_id=transfer.from_organisation_id,
            to_organisation_id=transfer.to_organisation_id,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("TransferAccepted")
    def _transfer_accepted(
        self,
        letter_number: str,
        from_organisation_id: UUID,
        to_organisation_id: UUID,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.organisation_id = to_organisation_id
        self.transfer = None
        self.latest_effective_date = max(self.latest_effective_date, effective_date)

    def refuse_transfer(
        self,
        *,
        letter_number: str,
        reason: str,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
    ) -> None:
        transfer = self._transfer_in_transit(letter_number)
        _not_in_future(effective_date, recorded_on)
        self._not_before(transfer.started_on, effective_date, "transfer letter date")
        self._transfer_refused(
            letter_number=letter_number,
            from_organisation_id=transfer.from_organisation_id,
            to_organisation_id=transfer.to_organisation_id,
            reason=reason,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("TransferRefused")
    def _transfer_refused(
        self,
        letter_number: str,
        from_organisation_id: UUID,
        to_organisation_id: UUID,
        reason: str,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.transfer = None
        self.latest_effective_date = max(self.latest_effective_date, effective_date)

    # -- rule helpers -------------------------------------------------------

    def _require_stage(self, required: Stage, *, wanted: Stage) -> None:
        if self.stage != required:
            order = list(Stage)
            code = "STAGE_TOO_EARLY" if order.index(self.stage) < order.index(required) else (
                "WRONG_STAGE"
            )
            raise DomainError(
                code,
                f"becoming {wanted.value} needs stage {required.value}",
                current_stage=self.stage.value,
                required_stage=required.value,
            )

    def _transfer_in_transit(self, letter_number: str) -> Transfer:
        if self.transfer is None:
            raise DomainError("NO_TRANSFER_IN_TRANSIT", "no transfer is in transit")
        if self.transfer.letter_number != letter_number:
            raise DomainError(
                "LETTER_MISMATCH",
                "the letter number is not the one in transit",
                letter_number=letter_number,
                in_transit=self.transfer.letter_number,
            )
        return self.transfer

    @staticmethod
    def _not_before(earliest: date, effective_date: date, what: str) -> None:
        if effective_date < earliest:
            raise DomainError(
                "EFFECTIVE_DATE_BEFORE_HISTORY",
                f"the effective date precedes the {what}",
                effective_date=effective_date.isoformat(),
                earliest=earliest.isoformat(),
            )


class Transfer:
    """A transfer in transit; plain state rebuilt from the events, never stored itself."""

    __slots__ = (
        "from_organisation_id",
        "letter_number",
        "started_on",
        "to_organisation_id",
        "valid_until",
    )

    def __init__(
        self,
        *,
        letter_number: str,
        from_organisation_id: UUID,
        to_organisation_id: UUID,
        started_on: date,
        valid_until: date,
    ) -> None:
        self.letter_number = letter_number
        self.from_organisation_id = from_organisation_id
        self.to_organisation_id = to_organisation_id
        self.started_on = started_on
        self.valid_until = valid_until


def _old_enough(citizen_id: CitizenId, effective_date: date, policy: Policy) -> None:
    age = age_on(citizen_id.birth_date, effective_date)
    if age < policy.minimum_application_age:
        raise DomainError(
            "TOO_YOUNG",
            f"must be at least {policy.minimum_application_age} on the application date",
            age=age,
            application_date=effective_date.isoformat(),
        )


def _not_in_future(effective_date: date, recorded_on: date) -> None:
    if effective_date > recorded_on:
        raise DomainError(
            "EFFECTIVE_DATE_IN_FUTURE",
            "the effective date is after the day the registry learns of it",
            effective_date=effective_date.isoformat(),
            recorded_on=recorded_on.isoformat(),
        )
