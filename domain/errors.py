"""Domain errors: a stable code, the rule in words and the offending values."""

from __future__ import annotations

from typing import Any

# Every code the domain can raise, with the rule it stands for. The table in
# README.md is generated from this mapping (tests check they agree).
RULES: dict[str, str] = {
    "INVALID_CITIZEN_ID": "A citizen ID number has 18 characters, a real birth date and a "
    "check character that matches GB 11643-1999.",
    "TOO_YOUNG": "An applicant must be at least 18 years old on the application date.",
    "ALREADY_A_MEMBER": "A person with an open membership episode cannot apply again.",
    "STAGE_TOO_EARLY": "The change needs the member to have reached an earlier stage first.",
    "WRONG_STAGE": "The change is not allowed from the member's current stage.",
    "EFFECTIVE_DATE_BEFORE_HISTORY": "A change cannot take effect before the change it builds on.",
    "EFFECTIVE_DATE_IN_FUTURE": "A change cannot take effect after the day it is recorded.",
    "TRANSFER_IN_TRANSIT": "A member with a transfer in transit cannot start another one.",
    "NO_TRANSFER_IN_TRANSIT": "Only a transfer in transit can be accepted or refused.",
    "LETTER_MISMATCH": "The letter number must be the one of the transfer in transit.",
    "TRANSFER_EXPIRED": "An expired transfer letter must be renewed before it is accepted.",
    "TRANSFER_VALIDITY_TOO_LONG": "A transfer letter is valid for at most the policy maximum.",
    "TRANSFER_TO_SAME_ORGANISATION": "A transfer must go to another organisation.",
    "UNKNOWN_ORGANISATION": "The organisation named is not in the registry.",
    "ORGANISATION_EXISTS": "An organisation code can be established only once.",
    "ORGANISATION_DISSOLVED": "A dissolved organisation takes no changes.",
    "INVALID_PARENT": "An organisation's parent must be one level above it.",
    "UNKNOWN_MEMBER": "The member named is not in the registry.",
    "NOT_AUTHORISED": "The source system may act only for the organisations in its scope.",
    "UNKNOWN_SOURCE_SYSTEM": "The source system is not registered as an integrator.",
    "INVALID_REQUEST": "A request field breaks its rule.",
    "DUPLICATE_REQUEST_ID_CONFLICT": "A request id was reused with a different body.",
}


class DomainError(Exception):
    """A rule of the domain was broken; `code` is stable and becomes the rejection reason."""

    def __init__(self, code: str, message: str, **values: Any) -> None:
        if code not in RULES:
            raise ValueError(f"unknown domain error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.values = values

    @property
    def rule(self) -> str:
        return RULES[self.code]
