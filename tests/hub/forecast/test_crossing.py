"""When a forecast reaches a threshold: time interpolated within the hour, levels already reached left out, and a
confidence read from the 80 % band."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.forecast.base import HOUR, Forecast, ForecastPoint
from hub.forecast.crossing import Z80, crossings

ISSUED = datetime(2026, 10, 1, 6, tzinfo=UTC)
BD = [(1, "BĐ1", 9.5), (2, "BĐ2", 10.5), (3, "BĐ3", 11.5)]


def _forecast(levels: list[float], half_width: float = 0.0) -> Forecast:
    points = tuple(
        ForecastPoint(ISSUED + (h + 1) * HOUR, h + 1, v, v - half_width, v + half_width) for h, v in enumerate(levels)
    )
    return Forecast("hong-ha-noi-long-bien", ISSUED, "model", "regression", points)


def test_first_crossing_of_each_level_interpolated_within_the_hour() -> None:
    fc = _forecast([9.0 + 0.2 * (h + 1) for h in range(12)])  # 9.2, 9.4, ... from 9.0 now
    found = crossings(fc, BD, current_level=9.0)
    assert [c.level for c in found] == [1, 2]  # BĐ3 (11.5) is beyond 11.4, the last point
    bd1, bd2 = found
    assert bd1.lead_h == pytest.approx(2.5)
    assert bd1.expected == ISSUED + 2.5 * HOUR
    assert bd2.lead_h == pytest.approx(7.5)
    assert bd1.name == "BĐ1" and bd1.threshold_m == 9.5


def test_a_crossing_within_the_first_hour_starts_from_the_current_level() -> None:
    found = crossings(_forecast([9.9, 10.0]), BD, current_level=9.3)
    assert found[0].level == 1 and found[0].lead_h == pytest.approx(0.2 / 0.6)


def test_a_level_already_reached_is_not_a_crossing() -> None:
    found = crossings(_forecast([10.2, 10.6, 11.0]), BD, current_level=10.0)
    assert [c.level for c in found] == [2]


def test_only_the_first_crossing_counts_when_the_level_dips_and_rises_again() -> None:
    found = crossings(_forecast([9.6, 9.2, 9.8]), BD, current_level=9.4)
    assert len(found) == 1 and found[0].lead_h == pytest.approx(0.5)


def test_without_a_current_level_the_first_point_stands_in() -> None:
    fc = _forecast([9.6, 9.8, 10.6])
    found = crossings(fc, BD, current_level=None)
    assert [c.level for c in found] == [2]  # BĐ1 is already reached at the first point: maybe before issue time
    assert found[0].lead_h == pytest.approx(2.0 + 0.7 / 0.8)


def test_confidence_from_the_band_read_as_a_normal_interval() -> None:
    sd = 0.1
    # Peak exactly at the threshold: a coin toss.
    fc = _forecast([9.0, 9.5, 9.0], half_width=Z80 * sd)
    assert crossings(fc, BD, 8.8)[0].confidence == pytest.approx(0.5)
    # Peak 1.2816 sd above: the 90th percentile of the peak hour's level is the threshold.
    fc = _forecast([9.0, 9.5 + Z80 * sd, 9.0], half_width=Z80 * sd)
    assert crossings(fc, BD, 8.8)[0].confidence == pytest.approx(0.9)
    # No band: certain.
    assert crossings(_forecast([9.0, 9.6]), BD, 8.8)[0].confidence == 1.0


def test_nothing_reached_nothing_returned() -> None:
    assert crossings(_forecast([9.0, 9.1, 9.2]), BD, 8.9) == []
    assert crossings(Forecast("x", ISSUED, "model", "persistence", ()), BD, 8.9) == []
