"""Calendar arithmetic the rules count in: whole years and months, not days.

"One year as activist" ends on the anniversary, so a period that spans 29
February is 366 days long; a start on 29 February has its anniversary on
28 February of a common year (the last day of the month).
"""

from __future__ import annotations

import calendar
from datetime import date


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def add_years(day: date, years: int) -> date:
    return add_months(day, 12 * years)


def whole_years_between(start: date, end: date) -> int:
    """Completed years from `start` to `end` (0 if `end` is before the first anniversary)."""
    years = end.year - start.year
    if add_years(start, years) > end:
        years -= 1
    return max(years, 0)
