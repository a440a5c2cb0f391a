"""Time helpers the rules share: timestamps are aware UTC, local time is Vietnam's (Asia/Ho_Chi_Minh, UTC+7)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def require_aware(ts: datetime, what: str = "timestamp") -> datetime:
    """``ts`` unchanged; ValueError for a naive datetime, whose meaning (UTC? local?) cannot be known."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {ts.isoformat()}")
    return ts
