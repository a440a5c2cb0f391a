"""Reporting periods (M, Q, H, Y): parsing "2025-07", "2025-Q3", "2025-H2", "2025", their start and the one before."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum

# Vietnam has kept UTC+7 without daylight saving since 1975: a fixed offset is exact.
VN_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")

_PATTERNS = {
    "M": re.compile(r"^(\d{4})-(\d{2})$"),
    "Q": re.compile(r"^(\d{4})-Q([1-4])$"),
    "H": re.compile(r"^(\d{4})-H([12])$"),
    "Y": re.compile(r"^(\d{4})$"),
}
_MONTHS = {"M": 1, "Q": 3, "H": 6, "Y": 12}
_EXAMPLE = {"M": "2025-07", "Q": "2025-Q3", "H": "2025-H2", "Y": "2025"}


class PeriodType(StrEnum):
    MONTH = "M"
    QUARTER = "Q"
    HALF = "H"
    YEAR = "Y"


def period_start(period_type: str, period: str) -> date:
    """The first day of the period; ValueError naming the expected spelling otherwise."""
    m = _PATTERNS[period_type].match(period.strip())
    if not m:
        raise ValueError(f"period {period!r} is not a {period_type} period (write it like {_EXAMPLE[period_type]})")
    year = int(m.group(1))
    if not 1900 <= year <= 2200:
        raise ValueError(f"period {period!r}: year {year} is out of range")
    if period_type == "Y":
        return date(year, 1, 1)
    index = int(m.group(2))
    if period_type == "M" and not 1 <= index <= 12:
        raise ValueError(f"period {period!r}: month {index} does not exist")
    return date(year, (index - 1) * _MONTHS[period_type] + 1, 1)


def previous_start(period_type: str, start: date) -> date:
    months = start.year * 12 + start.month - 1 - _MONTHS[period_type]
    return date(months // 12, months % 12 + 1, 1)


def local_midnight_ms(day: date) -> int:
    """Epoch ms of 00:00 Vietnam time on ``day``: what the points' timestamps are."""
    return int(datetime.combine(day, time(0), VN_TZ).timestamp() * 1000)


def day_of_ms(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, VN_TZ).date()
