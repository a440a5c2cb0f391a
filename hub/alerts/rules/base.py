"""Small pieces the rule modules share: checked text, finite and timezone-aware inputs, duplicate ids, local time."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import StringConstraints

# Vietnam's civil time (UTC+7, no daylight saving); devices send UTC.
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def require_finite(value: float, what: str = "value") -> float:
    """``value`` unchanged; ValueError for NaN or infinity, which would silently compare as 'below every level'."""
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, not {value}")
    return value


def require_aware(ts: datetime, what: str = "timestamp") -> datetime:
    """``ts`` unchanged; ValueError for a naive datetime, whose meaning (UTC? local?) cannot be known."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {ts.isoformat()}")
    return ts


def repeated(ids: Iterable[str]) -> list[str]:
    """The ids that occur more than once, sorted."""
    return sorted(i for i, n in Counter(ids).items() if n > 1)
