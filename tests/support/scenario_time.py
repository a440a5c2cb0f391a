"""Scenario start times for replays that go through a real hub.

The hub refuses readings stamped in the future or older than its maximum age (wire/timepolicy.py), so a replay's
device times must lie in the recent past, whatever day the suite runs on: fixed dates would turn into refusals.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

LOCAL = timedelta(hours=7)  # Việt Nam, UTC+7: the scenarios' t=0 is a local midnight


def local_midnight_days_ago(days: int) -> datetime:
    """Local (UTC+7) midnight ``days`` days before today's, as an aware UTC datetime."""
    local_now = datetime.now(UTC) + LOCAL
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    return (midnight - LOCAL).replace(tzinfo=UTC)
