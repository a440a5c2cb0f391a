"""Reservoir mass balance: volume changes by (inflow - release) each hour, the level comes back through the
storage curve, and the band comes from the inflow's uncertainty."""

from __future__ import annotations

from collections.abc import Callable
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


def test_agrees_with_the_simulators_reservoir_given_its_flows() -> None:
    """An independent mass balance (the simulator's: 2-minute Heun steps on a power-law curve, spillway included)
    against this one fed the simulator's hourly mean inflow and outflow and its curve surveyed every 0.25 m."""
    from simulators.sensors.reservoir import ReservoirSimulation
    from simulators.sensors.scenario import load_scenario
    from wire.nodeconfig.simulated import ReservoirParams

    group = load_scenario("reservoir_filling").groups[0]
    sim = ReservoirSimulation(ReservoirParams.model_validate(group.sensors[0].params))
    curve = [(10.0 + 0.25 * k, sim.storage(10.0 + 0.25 * k)) for k in range(105)]
    cfg = ReservoirForecastConfig(reservoir_id="reservoir-001", storage_curve=curve)

    def hourly_mean(flow: Callable[[float], float], t0: float) -> float:
        samples = [flow(t0 + 300.0 * m) for m in range(13)]
        return sum(samples) / len(samples)

    def outflow(t: float) -> float:
        return sim.outflow_at_level(sim.level_at(t))

    moves = []
    for t0_h in (0, 24, 48):  # filling, spilling near its peak, falling back
        t0 = t0_h * 3600.0
        inflow = [hourly_mean(sim.inflow, t0 + 3600.0 * k) for k in range(24)]
        release = [hourly_mean(outflow, t0 + 3600.0 * k) for k in range(24)]
        fc = forecast_reservoir(cfg, sim.level_at(t0), ISSUED, inflow, release)
        for p in fc.points:
            assert p.level_m == pytest.approx(sim.level_at(t0 + 3600.0 * p.horizon_h), abs=0.005)
        moves.append(abs(fc.points[-1].level_m - sim.level_at(t0)))
    assert max(moves) > 2.0  # the test is not passed by a lake that stands still
