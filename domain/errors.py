"""Domain errors: a stable code, the rule in words and the offending values."""

from __future__ import annotations

from typing import Any

# Every code the domain can raise, with the rule it stands for. docs/ERRORS.md is
# generated from this mapping by rules_table_markdown() (a test checks they agree).
RULES: dict[str, str] = {
    "INVALID_CITIZEN_ID": "A citizen ID number has 18 characters (17 digits 0-9, then a "
    "digit or X), a real birth date and a check character that matches GB 11643-1999.",
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
    "NOT_PROCESSED": "The registry's own code failed on the request (a fault of the "
    "registry, logged with where the request was read); nothing of it was applied. Send "
    "it again under a new request id once the registry is fixed.",
    # -- membership episodes and development stages
    "EPISODE_CLOSED": "A person whose membership episode has ended (an exit) takes no changes "
    "until a new application opens another episode.",
    "ACTIVIST_PERIOD_TOO_SHORT": "An activist becomes a development target only after at least "
    "one year as activist (counted to the anniversary, across transfers).",
    "POLITICAL_REVIEW_MISSING": "Admission as probationary member needs a passed political "
    "review (政审) of the development target.",
    "TRAINING_INSUFFICIENT": "Admission as probationary member needs training of at least "
    "3 days or 24 hours as a development target.",
    "SPONSOR_COUNT": "A development target needs exactly two distinct sponsors (入党介绍人).",
    "SPONSOR_NOT_ELIGIBLE": "A sponsor must be another person, a full member in good standing "
    "(not suspended, not under party probation).",
    "NO_APPROVAL_AUTHORITY": "Only an organisation with authority may approve: admissions and "
    "their outcomes need a committee above community level; expulsion needs a district or "
    "city committee.",
    "APPROVAL_BEFORE_DECISION": "An approval cannot come before the branch decision it approves.",
    "APPROVAL_WINDOW_EXCEEDED": "An admission is approved within 3 months of the branch meeting, "
    "or within 6 at most when a reason for the delay is given.",
    "PROBATION_NOT_ENDED": "Conversion or extension is decided only at the end of probation.",
    "PROBATION_ALREADY_EXTENDED": "Probation can be extended only once.",
    "EXTENSION_OUT_OF_RANGE": "An extension of probation lasts 6 to 12 months.",
    "ADMISSION_TOO_SOON_AFTER_TRANSFER": "A development target whose formal organisation "
    "changed (transfer accepted) less than 3 months (policy) before the branch meeting is "
    "generally not admitted there: only a request giving an exception reason is accepted, "
    "and the reason is recorded on the admission.",
    "COMMUNITY_OPINION_MISSING": "Where the policy makes it a rule (by default it is only a "
    "compliance warning), a member who reports to a community is admitted only after that "
    "community's opinion was heard, on or before the branch meeting.",
    "TALK_OUTSIDE_APPLICANT_STAGE": "The talk with an applicant (入党谈话) is dated in the "
    "applicant stage: on or after the application and not after the activist decision.",
    # -- standing of full members and exits
    "WRONG_STANDING": "The measure is not allowed from the member's current standing.",
    "CORRECTION_TOO_LONG": "A time-limited correction (限期改正) lasts at most one year.",
    "PARTY_PROBATION_TOO_LONG": "Party probation as a sanction (留党察看) lasts 1 day to 2 years.",
    "PARTY_PROBATION_NOT_ENDED": "Rights come back only when the party probation period is over.",
    "LOST_CONTACT_TOO_SHORT": "Suspension for lost contact needs at least 6 months without "
    "contact.",
    "NOT_SUSPENDED": "Restoration (恢复党籍) is possible only from suspension.",
    "SUSPENSION_TOO_SHORT": "A suspended member is removed only after 2 years of suspension.",
    # -- circumstances, community reporting, placement
    "CIRCUMSTANCE_ALREADY_SET": "A circumstance is set once until it is cleared.",
    "CIRCUMSTANCE_NOT_SET": "Only a circumstance that is set can be cleared.",
    "CIRCUMSTANCE_REQUIRED": "Community reporting needs the in-service circumstance; placement "
    "needs the mobile circumstance.",
    "CIRCUMSTANCE_IN_USE": "A circumstance cannot be cleared while a community registration or "
    "placement relies on it.",
    "ALREADY_REGISTERED_WITH_COMMUNITY": "A member reports to one community at a time.",
    "NOT_REGISTERED_WITH_COMMUNITY": "Only a current community registration can be ended, "
    "give feedback or give the community's opinion.",
    "IDENTITY_NOT_VERIFIED": "A mobile member is placed only after their identity is verified.",
    "ALREADY_PLACED": "A mobile member is placed in one organisation at a time.",
    "NOT_PLACED": "Only a current placement can be ended.",
    "PLACEMENT_IN_OWN_ORGANISATION": "A placement is in an organisation other than the formal one.",
    # -- transfers
    "RETURN_SLIP_NOT_EXPECTED": "A return slip (回执) is recorded once, for the last accepted "
    "transfer letter.",
    # -- organisations
    "ORGANISATION_NOT_EMPTY": "An organisation is merged or dissolved only after its members "
    "and sub-organisations are placed elsewhere.",
    "INVALID_MERGE_TARGET": "An organisation merges into another active organisation of the "
    "same level.",
    "NOT_A_JOINT_BRANCH": "Only a joint branch covers several units.",
    "JOINT_BRANCH_FULL": "A joint branch covers at most 5 units.",
    "UNIT_ALREADY_COVERED": "A unit is covered once by a joint branch.",
    "UNIT_NOT_COVERED": "Only a covered unit can be released.",
    "COORDINATION_BODY_LEVEL": "A street's coordination body (党建工作协调议事机构) is kept by a "
    "street organisation, and its members are unit organisations.",
    "UNIT_ALREADY_IN_COORDINATION_BODY": "A unit organisation joins a street's coordination "
    "body once, until it leaves.",
    "UNIT_NOT_IN_COORDINATION_BODY": "Only a unit organisation in the street's coordination "
    "body can leave it.",
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


def rules_table_markdown() -> str:
    """The text of docs/ERRORS.md: every code and its rule, in the order of RULES."""
    lines = [
        "# Domain error codes",
        "",
        "Generated from `domain.errors.RULES` by `domain.errors.rules_table_markdown()`;",
        "do not edit by hand (`python -m domain.errors > docs/ERRORS.md`).",
        "",
        "| code | rule |",
        "| --- | --- |",
    ]
    escaped = {code: rule.replace("|", r"\|") for code, rule in RULES.items()}
    lines += [f"| `{code}` | {rule} |" for code, rule in escaped.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(rules_table_markdown(), end="")
