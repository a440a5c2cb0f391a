"""The data-time policy (docs/contract.md#data-time-policy): which timestamps the hub accepts, in one place.

A timestamp comes from a device clock, which can be unset (1970, 2000), stepped (NTP after a long outage) or simply
wrong (local time sent as UTC is 7 hours ahead in Việt Nam). The hub accepts a message's ``ts`` and every reading's
``ts`` only within a window around its own clock:

- at most ``MAX_AHEAD`` into the future: a reading from the future would be the station's "latest" until that date,
  so every real reading after it would look late to the alarm rules;
- at most ``max_age`` into the past (hub setting ``max_reading_age_days``, default ``DEFAULT_MAX_AGE``): enough
  for a node's outbox to deliver a long outage's backlog, not enough for an unset clock.

Anything outside is refused with a reason and dead-lettered; the rest of its message is kept.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

MAX_AHEAD = timedelta(minutes=5)
DEFAULT_MAX_AGE = timedelta(days=400)
_MS = timedelta(milliseconds=1)
_MAX_AHEAD_MS = MAX_AHEAD // _MS  # compared in integers: this runs for every reading


def _span(ms: int) -> str:
    """A duration in the unit a person reads it in."""
    s = ms / 1000
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.1f} {unit}"
    return f"{s:.0f} s"


def _limit(limit: timedelta) -> str:
    days = limit / timedelta(days=1)
    return f"{days:g} days" if days >= 1 else f"{limit / timedelta(minutes=1):g} min"


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):
        return f"{ms} ms since 1970"


def time_problem(ts_ms: int, now_ms: int, max_age: timedelta = DEFAULT_MAX_AGE) -> str | None:
    """Why a timestamp (ms since the epoch) is refused at ``now_ms``; None when it is accepted."""
    ahead = ts_ms - now_ms
    if ahead > _MAX_AHEAD_MS:
        return (
            f"ts {_iso(ts_ms)} is {_span(ahead)} ahead of the hub clock (at most {_limit(MAX_AHEAD)} "
            "accepted): the device clock is wrong"
        )
    if -ahead > max_age.total_seconds() * 1000:
        return (
            f"ts {_iso(ts_ms)} is {_span(-ahead)} old (at most {_limit(max_age)} accepted): "
            "the device clock is not set, or the backlog is older than the hub keeps"
        )
    return None
