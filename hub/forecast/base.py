"""The shared vocabulary of forecasting: an hourly series, a forecast with its points, a threshold crossing.

Times are timezone-aware UTC datetimes at whole hours; levels are metres on the station's own datum (the datum
of its BĐ levels or named reservoir levels).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
MAX_HORIZON_H = 24
# The longest lead a forecast feed row may have (national bulletins reach 5 days; a longer lead is a date typed
# wrong): the feed importers refuse longer ones, and the rain forecast store reads no further past a window.
MAX_LEAD_H = 120


@dataclass(frozen=True, slots=True)
class HourlySeries:
    """Values at consecutive whole hours from ``start``; NaN marks an hour without a trusted reading."""

    start: datetime
    values: tuple[float, ...]

    def time_at(self, i: int) -> datetime:
        return self.start + i * HOUR

    @property
    def end(self) -> datetime:
        """The hour of the last value."""
        return self.start + (len(self.values) - 1) * HOUR


@dataclass(frozen=True, slots=True)
class ForecastPoint:
    """The level expected at ``valid`` (``horizon_h`` hours after the issue time), with an 80 % band."""

    valid: datetime
    horizon_h: int
    level_m: float
    lower_m: float
    upper_m: float


@dataclass(frozen=True, slots=True)
class Forecast:
    """One forecast of one station (river station id or reservoir id) issued at ``issued``.

    ``source`` is ``model`` for the hub's own or ``official`` for an imported one; ``method`` names how it was
    made (``persistence``, ``regression``, ``mass_balance``, or the issuing agency for an official one).
    """

    station_id: str
    issued: datetime
    source: str
    method: str
    points: tuple[ForecastPoint, ...]


@dataclass(frozen=True, slots=True)
class Crossing:
    """The forecast reaches ``threshold_m`` (alarm level ``level``) at ``expected``.

    ``confidence`` is the chance, from the method's error spread at that horizon, that the level is reached
    within the horizon at all (0-1).
    """

    level: int
    name: str
    threshold_m: float
    expected: datetime
    lead_h: float
    confidence: float
