"""Rain forecasts (quantitative precipitation forecasts, QPF) for a basin, as the stage model reads them.

A flashy river crosses its first alarm level a few hours after the rain starts: the Hương at Kim Long rises within
about seven hours of a typhoon's rain band arriving, so no forecast made from rain that has already fallen can warn
six hours ahead. The agencies warn earlier because they read the rain that is forecast to fall. This module holds
those forecasts: one issue is the hourly rain (mm) an agency or a weather model expects over an area, issued at one
time, for the hours after it. They reach the hub as a feed (kind ``rain_forecast``) and are stored in InfluxDB
(measurement ``rain_forecast``, ``hub/forecast/rain_store.py``).

The stage model's predictor is the forecast rain of the coming ``h`` hours, from the newest issue made at or before
the forecast's issue time: exactly what a forecaster had on the desk then, never a later, better forecast.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.forecast.base import HOUR

# An issue older than this is not used: weather models run every 6 or 12 hours, so a newer one should exist, and
# an old one's rain has moved on.
MAX_AGE = timedelta(hours=18)


@dataclass(frozen=True, slots=True)
class RainForecast:
    """One issue: ``mm[k]`` is the rain expected in the hour ending at ``first + k`` hours."""

    area: str
    issued: datetime
    first: datetime
    mm: tuple[float, ...]

    @property
    def last(self) -> datetime:
        """The end of the last hour the issue covers."""
        return self.first + (len(self.mm) - 1) * HOUR


class RainForecasts:
    """The issues of one area, newest-at-or-before lookups by issue time."""

    def __init__(self, issues: Iterable[RainForecast], max_age: timedelta = MAX_AGE) -> None:
        self._issues = sorted(issues, key=lambda f: f.issued)
        self._times = [f.issued for f in self._issues]
        self.max_age = max_age

    def __len__(self) -> int:
        return len(self._issues)

    def newest(self, at: datetime) -> RainForecast | None:
        """The newest issue made at or before ``at`` and no older than ``max_age``; None if there is none."""
        k = bisect.bisect_right(self._times, at)
        if k == 0:
            return None
        issue = self._issues[k - 1]
        return issue if at - issue.issued <= self.max_age else None

    def ahead(self, at: datetime, h: int) -> float:
        """Rain (mm) forecast for the ``h`` hours after ``at`` (hours ending at ``at`` + 1 .. ``at`` + h) by the
        newest issue at or before ``at``; NaN when there is none or it does not cover all those hours."""
        issue = self.newest(at)
        if issue is None:
            return math.nan
        k0 = round((at + HOUR - issue.first) / HOUR)
        if k0 < 0 or k0 + h > len(issue.mm):
            return math.nan
        return math.fsum(issue.mm[k0 : k0 + h])

    def ahead_series(self, start: datetime, n: int, h: int) -> list[float]:
        """``ahead(t, h)`` for the ``n`` whole hours from ``start``: the predictor on a fitting grid."""
        return [self.ahead(start + i * HOUR, h) for i in range(n)]
