"""Signal models: deterministic, physically plausible, exact where the wire contract needs exactness."""

from __future__ import annotations

import itertools
import random

import pytest

from simulators.sensors.hydrology import Burst, Hyetograph
from simulators.sensors.models import SIGNAL_MODELS, create_model, diurnal_shape, validate_params
from simulators.sensors.reservoir import ReservoirParams, ReservoirSimulation

STORM = [
    {"start_s": 3600, "duration_s": 6 * 3600, "total_mm": 87.3},
    {"start_s": 30_000, "duration_s": 1800, "total_mm": 12},
]
# Params that make every model do something (defaults alone leave rain-driven models flat).
PARAMS = {
    "river_stage": {"base_m": 2.0, "peak_m": 5.0, "bursts": STORM},
    "rain_gauge": {"bursts": STORM},
    "reservoir_level": {"bursts": STORM},
    "inflow": {"bursts": STORM},
    "outflow": {"bursts": STORM},
    "seepage": {"bursts": STORM},
    "constant": {"value": 12.7, "noise_sd": 0.05},
}
TIMES = [0.0, 1.0, 59.5, 3600.0, 7200.25, 20_000.0, 43_200.0, 86_399.0]


@pytest.mark.parametrize("name", sorted(SIGNAL_MODELS))
def test_same_seed_same_signal_in_any_order(name: str) -> None:
    params = PARAMS.get(name, {})
    a, b = create_model(name, params, 42), create_model(name, params, 42)
    forward = [a.sample(None if i == 0 else TIMES[i - 1], t) for i, t in enumerate(TIMES)]
    # b is asked in reverse order and only at some instants: it must agree wherever it is asked.
    for i in reversed(range(0, len(TIMES), 2)):
        assert b.sample(None if i == 0 else TIMES[i - 1], TIMES[i]) == forward[i]
    assert create_model(name, params, 42).sample(3600.0, 7200.25) == forward[4]


@pytest.mark.parametrize("name", ["river_stage", "temperature", "humidity", "pm25", "constant", "reservoir_level"])
def test_different_seed_different_noise(name: str) -> None:
    params = PARAMS.get(name, {})
    assert create_model(name, params, 1).sample(None, 7200.0) != create_model(name, params, 2).sample(None, 7200.0)


@pytest.mark.parametrize("resolution", [0.0, 0.2, 0.5])
def test_rain_increments_over_any_split_sum_to_the_same_total(resolution: float) -> None:
    gauge = create_model("rain_gauge", {"bursts": STORM, "resolution_mm": resolution}, 7)
    end = 40_000.0
    totals = []
    rng = random.Random(3)
    for _ in range(5):
        cuts = sorted({0.0, end, *(rng.uniform(0, end) for _ in range(rng.randint(1, 400)))})
        totals.append(sum(gauge.sample(a, b) for a, b in itertools.pairwise(cuts)))
    assert gauge.sample(None, 5000.0) == 0.0  # first read: nothing measured yet
    assert max(totals) - min(totals) < 1e-6
    expected = 99.3 if resolution == 0 else resolution * int(99.3 / resolution + 1e-9)
    assert totals[0] == pytest.approx(expected, abs=1e-6)


def test_rain_gauge_jitter_differs_between_gauges_but_keeps_the_storm() -> None:
    params = {"bursts": STORM, "jitter": 0.3, "shift_s": 1800, "resolution_mm": 0}
    totals = {round(create_model("rain_gauge", params, s).sample(0.0, 86_400.0), 3) for s in range(10)}
    assert len(totals) == 10
    assert all(99.3 * 0.7 - 1e-6 <= t <= 99.3 * 1.3 + 1e-6 for t in totals)


def test_hyetograph_blocks_hold_each_burst_total() -> None:
    h = Hyetograph.from_bursts([Burst(start_s=100, duration_s=600, total_mm=30)])
    assert h.total == pytest.approx(30.0)
    assert h.depth(100) == 0.0 and h.depth(700) == pytest.approx(30.0)
    assert h.depth(400) == pytest.approx(15.0)  # symmetric: half falls by the middle


def test_river_stage_lags_the_rain_peaks_at_peak_m_and_recedes() -> None:
    river = create_model("river_stage", {**PARAMS["river_stage"], "noise_sd_m": 0}, 1)
    series = [(t, river.sample(None, t)) for t in range(0, 4 * 86_400, 600)]
    t_peak, peak = max(series, key=lambda p: p[1])
    assert peak == pytest.approx(5.0, abs=0.01)
    assert t_peak > 3600 + 3 * 3600  # after the middle of the main burst: routing delays the wave
    assert series[0][1] == pytest.approx(2.0) and series[-1][1] < 2.2


def test_bad_params_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"peak_m: .*number"):
        validate_params("river_stage", {"peak_m": "high"})
    with pytest.raises(ValueError, match="recesion_s"):
        validate_params("river_stage", {"recesion_s": 10})
    with pytest.raises(ValueError, match="peak_m must be above base_m"):
        validate_params("river_stage", {"base_m": 5, "peak_m": 4})
    with pytest.raises(KeyError, match="known: constant"):
        validate_params("tide", {})


@pytest.mark.parametrize("start_hour", [0.0, 7.0, 18.5])
def test_temperature_peaks_in_the_local_afternoon(start_hour: float) -> None:
    temp = create_model("temperature", {"start_local_hour": start_hour, "noise_sd_c": 0, "day_variation_c": 0}, 5)
    hum = create_model("humidity", {"start_local_hour": start_hour, "day_variation_c": 0, "noise_sd_pct": 0}, 5)
    times = [m * 60.0 for m in range(24 * 60)]
    local = [(start_hour + t / 3600) % 24 for t in times]
    temps = [temp.sample(None, t) for t in times]
    rhs = [hum.sample(None, t) for t in times]
    assert 13.0 <= local[temps.index(max(temps))] <= 15.0
    assert 4.5 <= local[temps.index(min(temps))] <= 6.5
    assert 13.0 <= local[rhs.index(min(rhs))] <= 15.0  # drier when warmer
    assert all(0 <= r <= 100 for r in rhs)
    assert max(temps) - min(temps) == pytest.approx(10.0, abs=0.05)


def test_diurnal_shape_is_continuous_around_the_clock() -> None:
    values = [diurnal_shape(h / 10, 5.5, 14.0) for h in range(241)]
    assert max(abs(a - b) for a, b in itertools.pairwise(values)) < 0.05
    assert diurnal_shape(14.0, 5.5, 14.0) == pytest.approx(1.0)
    assert diurnal_shape(5.5, 5.5, 14.0) == pytest.approx(-1.0)


def test_humidity_stays_within_bounds_when_saturated() -> None:
    fog = create_model("humidity", {"dewpoint_c": 40.0, "noise_sd_pct": 5}, 1)
    assert all(0.0 <= fog.sample(None, t * 900.0) <= 100.0 for t in range(200))


def test_pm25_is_worse_at_night_than_in_the_afternoon() -> None:
    pm = create_model("pm25", {"start_local_hour": 0, "noise_frac": 0, "episode_amplitude": 0}, 3)
    assert pm.sample(None, 21 * 3600) > 1.5 * pm.sample(None, 15 * 3600)
    assert all(pm.sample(None, t * 1800.0) >= 0 for t in range(200))


def test_reservoir_mass_balance_and_spill() -> None:
    p = ReservoirParams(
        initial_level_m=31.5,
        bursts=[Burst(start_s=0, duration_s=86_400, total_mm=400)],
        basin_area_km2=800,
        step_s=60,
    )
    sim = ReservoirSimulation(p)
    dt, stored, t = 60.0, sim.storage_at(0.0), 0.0
    net = 0.0
    while t < 3 * 86_400:  # trapezoid of inflow - outflow on the simulation's own grid
        l0, l1 = sim.level_at(t), sim.level_at(t + dt)
        net += dt * ((sim.inflow(t) - sim.outflow_at_level(l0)) + (sim.inflow(t + dt) - sim.outflow_at_level(l1))) / 2
        t += dt
    assert sim.storage_at(t) - stored == pytest.approx(net, rel=1e-3)
    peak = max(sim.level_at(h * 3600.0) for h in range(72))
    assert peak > p.normal_level_m  # the storm tops the crest ...
    assert sim.spill(peak) > 0 and sim.spill(p.normal_level_m - 0.1) == 0.0  # ... and the spillway runs


def test_reservoir_views_agree() -> None:
    params = {
        "bursts": STORM,
        "initial_level_m": 32.0,
        "level_noise_m": 0,
        "flow_noise_frac": 0,
        "seepage_noise_lps": 0,
    }
    level = create_model("reservoir_level", params, 1)
    outflow = create_model("outflow", params, 2)
    seepage = create_model("seepage", params, 3)
    t = 20 * 3600.0
    h = level.sample(None, t)
    assert outflow.sample(None, t) == pytest.approx(level.sim.outflow_at_level(h))
    assert seepage.sample(None, t) == pytest.approx(level.sim.seepage_lps(h))


def test_constant_without_noise_is_constant() -> None:
    assert {create_model("constant", {"value": 3.3}, s).sample(None, s * 7.0) for s in range(20)} == {3.3}
