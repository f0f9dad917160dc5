"""Citizen ID numbers (GB 11643-1999): checked here, before anything else sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from operator import mul

from domain.errors import DomainError
from domain.vocabulary import Sex

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"
_LAST = frozenset("0123456789X")
_ZERO_WEIGHED = ord("0") * sum(_WEIGHTS)


def check_character(first17: str) -> str:
    if len(first17) != len(_WEIGHTS) or not (first17.isascii() and first17.isdigit()):
        raise ValueError(f"not {len(_WEIGHTS)} digits 0-9: {first17!r}")
    # Weighed as character codes, the weighed zeros taken off after: a third of the
    # time of int() on each digit, and every new request's number is checked.
    total = sum(map(mul, first17.encode("ascii"), _WEIGHTS)) - _ZERO_WEIGHED
    return _CHECK_CHARACTERS[total % 11]


@dataclass(frozen=True)
class CitizenId:
    number: str
    birth_date: date
    sex: Sex

    @classmethod
    def parse(cls, raw: str) -> CitizenId:
        return _parse(raw)


# A request's number is checked when the request is read, when the ingest looks its
# member up and when the handler runs: remembered for a batch's worth of requests.
# Only valid numbers are remembered (a refusal is an exception, never cached).
@lru_cache(maxsize=8192)
def _parse(raw: str) -> CitizenId:
    number = raw.strip().upper()
    if len(number) != 18:
        raise DomainError("INVALID_CITIZEN_ID", "must have 18 characters", length=len(number))
    # isascii: digits of other scripts pass isdigit() (and int()), and the number is
    # hashed as ASCII into the member's id.
    if not number.isascii() or not number[:17].isdigit() or number[17] not in _LAST:
        raise DomainError(
            "INVALID_CITIZEN_ID", "must be 17 digits and a digit or X", value=masked(number)
        )
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise DomainError(
            "INVALID_CITIZEN_ID", "birth date is not a real date", birth=number[6:14]
        ) from None
    expected = check_character(number[:17])
    if number[17] != expected:
        raise DomainError(
            "INVALID_CITIZEN_ID",
            "check character does not match",
            value=masked(number),
            expected_check=expected,
        )
    sex = Sex.MALE if int(number[16]) % 2 == 1 else Sex.FEMALE
    return CitizenId(number=number, birth_date=birth, sex=sex)


def masked(number: str) -> str:
    """Keeps the area code and check character, hides the rest: safe for a public topic."""
    if len(number) < 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 6) + number[-2:]


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
