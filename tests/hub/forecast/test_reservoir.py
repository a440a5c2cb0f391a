"""Reservoir mass balance: volume changes by (inflow - release) each hour, the level comes back through the
storage curve, and the band comes from the inflow's uncertainty."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.forecast.base import HOUR
from hub.forecast.config import ReservoirForecastConfig
from hub.forecast.crossing import Z80
from hub.forecast.reservoir import StorageCurve, forecast_reservoir

ISSUED = datetime(2026, 10, 1, tzinfo=UTC)
AREA = 2.0e6  # m² of lake: a straight storage curve, 2 million m³ per metre
CFG = ReservoirForecastConfig(
    reservoir_id="reservoir-001",
    storage_curve=[(20.0, 0.0), (30.0, 10 * AREA), (40.0, 10 * AREA + 10 * 4.0e6)],  # wider above 30 m
    inflow_uncertainty=0.2,
)


def test_level_follows_the_net_inflow() -> None:
    fc = forecast_reservoir(CFG, 25.0, ISSUED, [300.0] * 6, [100.0] * 6, horizon_h=6)
    assert fc.method == "mass_balance" and fc.source == "model" and fc.station_id == "reservoir-001"
    rise_per_h = 200.0 * 3600 / AREA  # 0.36 m
    for p in fc.points:
        assert p.level_m == pytest.approx(25.0 + rise_per_h * p.horizon_h)
        assert p.valid == ISSUED + p.horizon_h * HOUR
    last = fc.points[-1]
    # Inflow x (1 ± 1.2816 x 0.2) over 6 hours, release unchanged.
    assert last.upper_m - last.level_m == pytest.approx(300.0 * Z80 * 0.2 * 3600 * 6 / AREA)
    assert last.level_m - last.lower_m == pytest.approx(300.0 * Z80 * 0.2 * 3600 * 6 / AREA)


def test_the_curve_is_read_where_the_lake_widens() -> None:
    # From 29.5 m, 1.08 million m³ an hour: 1 million fill the last half metre to 30 m, the rest spreads wider.
    fc = forecast_reservoir(CFG, 29.5, ISSUED, [400.0], [100.0], horizon_h=1)
    assert fc.points[0].level_m == pytest.approx(30.0 + 0.08e6 / 4.0e6)


def test_a_falling_lake_stops_at_the_bottom_of_the_curve() -> None:
    fc = forecast_reservoir(CFG, 20.5, ISSUED, [0.0] * 3, [500.0] * 3, horizon_h=3)
    assert [p.level_m for p in fc.points][-1] == 20.0


def test_no_flows_invented_beyond_those_given() -> None:
    fc = forecast_reservoir(CFG, 25.0, ISSUED, [300.0] * 4, [100.0] * 10, horizon_h=24)
    assert len(fc.points) == 4
    with pytest.raises(ValueError, match="reservoir-001: no inflow"):
        forecast_reservoir(CFG, 25.0, ISSUED, [], [100.0])
    with pytest.raises(ValueError, match="release must be finite and >= 0"):
        forecast_reservoir(CFG, 25.0, ISSUED, [1.0], [-5.0])
    with pytest.raises(ValueError, match="current level must be finite"):
        forecast_reservoir(CFG, float("nan"), ISSUED, [1.0], [1.0])


def test_storage_curve_round_trip() -> None:
    curve = StorageCurve(CFG.storage_curve)
    for level in (20.0, 24.3, 30.0, 35.5):
        assert curve.level(curve.volume(level)) == pytest.approx(level)
