"""Completeness: readings received against readings expected, per station and local day (Asia/Ho_Chi_Minh).

Expected readings come from each sensor's ``interval_s`` (the node config, known to the hub per sensor): a whole
local day expects 86,400 / interval_s readings per sensor. A sensor in alarm samples faster (``fast_interval_s``),
so a day can receive more than expected: ``ratio`` is capped at 1 and ``received`` keeps the true count. Repeats
of one (sensor, timestamp) count once. Pure: the caller reads the timestamps from storage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from hub.alerts.rules.base import LOCAL_TZ, require_aware

DAY_S = 86_400.0


@dataclass(frozen=True)
class DayCompleteness:
    """One station (or sensor) on one local day."""

    day: date
    received: int
    expected: float

    @property
    def ratio(self) -> float:
        """received / expected, at most 1; 1 when nothing was expected."""
        if self.expected <= 0:
            return 1.0
        return min(1.0, self.received / self.expected)


def local_day(ts: datetime) -> date:
    """The Vietnamese calendar day a UTC timestamp falls on."""
    return require_aware(ts).astimezone(LOCAL_TZ).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The local day as [start, end) aware datetimes (UTC+7, no daylight saving)."""
    start = datetime.combine(day, time(0), tzinfo=LOCAL_TZ)
    return start, start + timedelta(days=1)


def expected_readings(
    interval_s: float, day: date, since: datetime | None = None, until: datetime | None = None
) -> float:
    """Readings one sensor owes on ``day``: the part of the day within [since, until) over its interval.

    ``since`` (the sensor joined) and ``until`` (now, for today) cut the day short; a day wholly outside owes 0.
    """
    if not interval_s > 0:
        raise ValueError(f"interval_s must be positive, not {interval_s}")
    start, end = day_bounds(day)
    if since is not None:
        start = max(start, require_aware(since))
    if until is not None:
        end = min(end, require_aware(until))
    return max(0.0, (end - start).total_seconds()) / interval_s


def station_completeness(
    readings: Iterable[tuple[str, datetime]],
    intervals: Mapping[str, float],
    days: Iterable[date] | None = None,
    until: datetime | None = None,
) -> list[DayCompleteness]:
    """Completeness of one station per local day, summed over its sensors.

    ``readings``: (sensor_id, timestamp) of what arrived; a sensor not in ``intervals`` is not counted (nothing
    is expected of it). ``days``: the days to report (default: every day a reading fell on), oldest first.
    ``until`` (now) cuts today short, so a morning is not judged against a whole day.
    """
    seen: dict[date, set[tuple[str, datetime]]] = defaultdict(set)
    for sensor_id, ts in readings:
        if sensor_id in intervals:
            seen[local_day(ts)].add((sensor_id, ts))
    report = sorted(seen) if days is None else sorted(days)
    out = []
    for day in report:
        expected = sum(expected_readings(i, day, until=until) for i in intervals.values())
        out.append(DayCompleteness(day, len(seen.get(day, ())), expected))
    return out


def sensor_completeness(
    timestamps: Iterable[datetime], interval_s: float, days: Iterable[date] | None = None, until: datetime | None = None
) -> list[DayCompleteness]:
    """The same for one sensor."""
    return station_completeness((("", ts) for ts in timestamps), {"": interval_s}, days, until)
