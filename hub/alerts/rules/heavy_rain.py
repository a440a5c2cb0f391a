"""Rolling rain sums and heavy-rain risk levels (QĐ 18/2021/QĐ-TTg Điều 44)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.alerts.rules.base import require_finite
from plumbing.configfile import load_yaml_model

DAY = timedelta(days=1)


def rolling_sum(increments: Sequence[tuple[datetime, float]], end: datetime, window: timedelta) -> float:
    """Rain over ``(end - window, end]``, mm: the sum of the increments timestamped in it.

    Each increment is the depth fallen since the gauge's previous reading (the wire contract), so it belongs to
    the window holding its own timestamp; the half-open window lets adjacent windows split a period exactly.
    """
    if window <= timedelta(0):
        raise ValueError(f"window must be positive, not {window}")
    start = end - window
    return math.fsum(mm for ts, mm in increments if start < ts <= end)


def daily_totals(increments: Sequence[tuple[datetime, float]], end: datetime, days: int) -> list[float]:
    """Rain of each of the ``days`` 24-hour periods ending at ``end``, oldest first (the last one ends at ``end``)."""
    return [rolling_sum(increments, end - k * DAY, DAY) for k in range(days - 1, -1, -1)]


def _rising(values: Sequence[float], name: str) -> None:
    if any(v <= 0 for v in values):
        raise ValueError(f"{name} must be positive")
    if any(b <= a for a, b in pairwise(values)):
        raise ValueError(f"{name} must rise strictly: {list(values)}")


class RainBands(BaseModel):
    """Heavy-rain risk levels for one area (QĐ 18/2021/QĐ-TTg Điều 44).

    A band comes from the 24 h amount (or the 12 h amount, whichever gives the higher band), a duration class
    from how many days the heavy rain has lasted, and ``levels[band - 1][class - 1]`` is the risk level. Terrain
    (mountains, midlands, plains) is handled by giving each area its own bands. Only level 1 (100-200 mm in
    24 h or 50-100 mm in 12 h, lasting 1-2 days) is verified; the rest is configurable and unverified.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    area: str | None = Field(None, description="Area or terrain these bands apply to, e.g. 'trung du, miền núi'")
    source: str = Field("QĐ 18/2021/QĐ-TTg Điều 44", description="Where the bands come from")
    edges_24h_mm: list[float] = Field(
        [100.0, 200.0, 400.0],
        min_length=1,
        description="24 h rain that starts each band: band 1 from the first value inclusive ('từ 100 mm'), band k "
        "above the k-th value ('trên 200 mm'), so 200 mm is still band 1. Band 1 verified; higher bands unverified",
    )
    edges_12h_mm: list[float] = Field(
        [50.0, 100.0, 200.0],
        min_length=1,
        description="The same for 12 h rain. Band 1 (50-100 mm in 12 h) verified; higher 12 h bands unverified",
    )
    duration_edges_days: list[float] = Field(
        [2.0, 4.0],
        description="Duration classes: up to the first value is class 1 ('1-2 days'), up to the next class 2 "
        "('2-4 days'), longer class 3 ('over 4 days'). Unverified beyond class 1",
    )
    levels: list[list[int]] = Field(
        [[1, 2, 3], [2, 3, 4], [3, 4, 4]],
        description="Risk level per band (row) and duration class (column). Only levels[0][0] = 1 is verified",
    )
    heavy_day_mm: float = Field(
        100.0, gt=0, description="A day counts toward the duration when its rain reaches this, mm (unverified)"
    )

    @model_validator(mode="after")
    def _shape(self) -> RainBands:
        _rising(self.edges_24h_mm, "edges_24h_mm")
        _rising(self.edges_12h_mm, "edges_12h_mm")
        _rising(self.duration_edges_days, "duration_edges_days")
        bands, classes = len(self.edges_24h_mm), len(self.duration_edges_days) + 1
        if len(self.edges_12h_mm) != bands:
            raise ValueError(f"edges_12h_mm needs one value per band ({bands})")
        if len(self.levels) != bands or any(len(row) != classes for row in self.levels):
            raise ValueError(f"levels must be {bands} rows (bands) of {classes} values (duration classes)")
        if any(not 1 <= v <= 5 for row in self.levels for v in row):
            raise ValueError("levels must be risk levels 1-5")
        # More rain, or the same rain for longer, never lowers the level.
        for row in self.levels:
            if any(b < a for a, b in pairwise(row)):
                raise ValueError(f"levels must not fall as the duration grows: {row}")
        for lower, higher in pairwise(self.levels):
            if any(h < lo for lo, h in zip(lower, higher, strict=True)):
                raise ValueError(f"levels must not fall in a higher band: {lower} then {higher}")
        return self


def _band(amount_mm: float, edges: Sequence[float]) -> int:
    if amount_mm < edges[0]:
        return 0
    return 1 + sum(1 for edge in edges[1:] if amount_mm > edge)


def rain_band(acc_12h: float, acc_24h: float, bands: RainBands) -> int:
    """0 (not heavy rain) or the band 1..N, the higher of what the 24 h and the 12 h amounts give."""
    require_finite(acc_12h, "12 h rain")
    require_finite(acc_24h, "24 h rain")
    return max(_band(acc_24h, bands.edges_24h_mm), _band(acc_12h, bands.edges_12h_mm))


def duration_class(days_of_heavy_rain: float, bands: RainBands) -> int:
    """1 for up to 2 days (also for rain still in its first day), 2 for over 2 up to 4, 3 for over 4 (defaults)."""
    if not days_of_heavy_rain >= 0:
        raise ValueError(f"days_of_heavy_rain must be >= 0, not {days_of_heavy_rain}")
    return 1 + sum(1 for edge in bands.duration_edges_days if days_of_heavy_rain > edge)


def heavy_rain_level(acc_12h: float, acc_24h: float, days_of_heavy_rain: float, bands: RainBands) -> int:
    """Risk level from heavy rain: 0 when neither amount reaches band 1, else ``levels[band][duration]``.

    The rule is applied to rain as it happens: heavy rain still in its first day is in the 1-2 day class, so the
    alert is not held back until a day has passed.
    """
    band = rain_band(acc_12h, acc_24h, bands)
    if band == 0:
        return 0
    return bands.levels[band - 1][duration_class(days_of_heavy_rain, bands) - 1]


def heavy_rain_days(day_totals_mm: Sequence[float], bands: RainBands) -> int:
    """How many days, counting back from the last (the current one), each had at least ``heavy_day_mm``."""
    days = 0
    for total in reversed(day_totals_mm):
        if not total >= bands.heavy_day_mm:
            break
        days += 1
    return days


def load_rain_bands(path: Path | str) -> RainBands:
    """A YAML file of one area's bands (see ``hub/alerts/sample_rules/heavy_rain.yaml``)."""
    return load_yaml_model(path, RainBands)
