"""Rain forecasts (QPF) as a predictor: the newest issue at or before the forecast's issue time and never a later
one, a rise announced before any rain has fallen, the fit without them when none covers a forecast, and forecasts
that explain nothing left out. Also the simulator's QPF: reproducible, and wrong the ways real ones are."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from hub.forecast.base import HOUR, HourlySeries
from hub.forecast.config import StationForecastConfig
from hub.forecast.rain_forecast import RainForecast, RainForecasts
from hub.forecast.station import fit_station
from simulators.sensors.rain_forecast import QpfErrors, qpf_issues
from simulators.sensors.routing import seeded_storms
from wire.nodeconfig.simulated import Burst

T0 = datetime(2026, 9, 1, tzinfo=UTC)
N = 24 * 40


def issue(hours_after_t0: int, mm: list[float], area: str = "huong") -> RainForecast:
    issued = T0 + hours_after_t0 * HOUR
    return RainForecast(area, issued, issued + HOUR, tuple(mm))


def test_ahead_sums_the_newest_issue_made_at_or_before_the_time() -> None:
    early = issue(0, [1.0] * 48)
    later = issue(6, [2.0] * 48)
    fc = RainForecasts([later, early])
    assert fc.ahead(T0, 3) == 3.0  # hours ending 01:00-03:00 of the 00:00 issue
    assert fc.ahead(T0 + 5 * HOUR, 2) == 2.0  # still the 00:00 issue: the 06:00 one was not out yet
    assert fc.ahead(T0 + 6 * HOUR, 2) == 4.0
    assert fc.ahead(T0 + 8 * HOUR, 6) == 12.0  # two hours into the 06:00 issue: its hours 3-8
    assert fc.newest(T0 - HOUR) is None and math.isnan(fc.ahead(T0 - HOUR, 1))


def test_ahead_is_missing_past_the_issue_its_age_or_a_gap() -> None:
    gap = [1.0] * 10 + [math.nan] + [1.0] * 13
    fc = RainForecasts([issue(0, gap)], max_age=timedelta(hours=18))
    assert fc.ahead(T0, 10) == 10.0
    assert math.isnan(fc.ahead(T0, 11))  # an hour the issue left out is unknown, not dry
    assert math.isnan(fc.ahead(T0 + 12 * HOUR, 13))  # runs past the issue's last hour
    assert fc.ahead(T0 + 18 * HOUR, 1) == 1.0
    assert math.isnan(fc.ahead(T0 + 19 * HOUR, 1))  # 19 h old: stale


def _flashy_basin(seed: int = 11) -> tuple[list[float], list[float], RainForecasts]:
    """A flashy river: storms every few days, the river rising 3 h after each hour's rain; no rain gauge, and rain
    forecasts issued every 6 h that see each storm coming, its depth off by up to ± 30 %."""
    rng = random.Random(seed)
    rain = [0.0] * (N + 60)
    t = 40
    starts = []
    while t < N:
        starts.append(t)
        for k in range(rng.randint(6, 18)):
            rain[t + k] = rng.uniform(2.0, 12.0)
        t += rng.randint(70, 130)
    level = [1.0] * N
    for i, r in enumerate(rain[:N]):
        if r:
            for j in range(i + 4, min(N, i + 60)):
                x = (j - i - 3) / 4.0
                level[j] += 0.01 * r * x * math.exp(1 - x)
    factor = {s: rng.uniform(0.7, 1.3) for s in starts}

    def storm_factor(hour: int) -> float:
        return next((f for s, f in sorted(factor.items(), reverse=True) if s <= hour), 1.0)

    issues = [issue(h, [rain[h + k] * storm_factor(h + k) for k in range(1, 49)]) for h in range(0, N, 6)]
    return level, starts, RainForecasts(issues)


CFG = StationForecastConfig(station_id="s", rain_forecast="huong")


def test_a_rain_forecast_announces_the_rise_before_any_rain_falls() -> None:
    level, starts, fc = _flashy_basin()
    history = {"s": HourlySeries(T0, tuple(level))}
    model = fit_station(CFG, history, fc)
    plain = fit_station(StationForecastConfig(station_id="s"), history)
    d = model.describe()
    assert d["rain_forecast_area"] == "huong" and d["rain_forecast_note"] == ""
    six = d["horizons"][5]
    assert six["rain_forecast"] and "rain forecast: held-out MSE" in six["note"]
    assert six["coefficients"]["rain_forecast_ahead"] > 0
    assert six["held_out_skill"] > six["held_out_skill_without_rain_forecast"] + 0.1

    # Issued an hour before a storm's first rain, the river flat: only the forecast says what is coming.
    i = next(s for s in starts if s > 24 * 25) - 1
    assert level[i] == level[i - 6]
    issued = T0 + i * HOUR
    recent = {"s": HourlySeries(T0, tuple(level[: i + 1]))}
    rise = level[i + 8] - level[i]
    assert rise > 0.15
    f_qpf = model.forecast(recent, issued, rain_forecasts=fc).points[7].level_m - level[i]
    f_plain = plain.forecast(recent, issued).points[7].level_m - level[i]
    assert abs(f_plain) < 0.05  # without the forecast, a flat river stays flat
    assert abs(f_qpf - rise) < rise / 2


def test_without_a_forecast_covering_the_hours_the_fit_without_it_is_used() -> None:
    level, _, fc = _flashy_basin()
    history = {"s": HourlySeries(T0, tuple(level))}
    model = fit_station(CFG, history, fc)
    plain = fit_station(StationForecastConfig(station_id="s"), history)
    issued = T0 + (N - 1) * HOUR
    assert model.horizons[5].rain_ahead and model.horizons[5].fallback() is not None
    none = model.forecast(history, issued)  # no forecasts at all
    stale = model.forecast(history, issued, rain_forecasts=RainForecasts([issue(0, [5.0] * 48)]))
    expected = plain.forecast(history, issued)
    assert none.method == stale.method == "regression"
    assert (
        [p.level_m for p in none.points]
        == [p.level_m for p in stale.points]
        == [pytest.approx(p.level_m) for p in expected.points]
    )


def test_rain_forecasts_that_explain_nothing_or_too_few_are_not_used() -> None:
    level, _, _ = _flashy_basin()
    rng = random.Random(4)
    elsewhere = RainForecasts(
        issue(h, [rng.choice([0.0, 0.0, rng.uniform(0, 8)]) for _ in range(48)]) for h in range(0, N, 6)
    )
    history = {"s": HourlySeries(T0, tuple(level))}
    model = fit_station(CFG, history, elsewhere)
    assert sum(1 for f in model.horizons if f.rain_ahead) <= 4  # kept, at most, where chance made it a hair better
    none = fit_station(CFG, history, RainForecasts([]))
    assert none.rain_forecast_area is None and "no forecasts stored for area huong" in none.rain_forecast_note
    recent_only = RainForecasts(issue(h, [1.0] * 48) for h in range(N - 100, N, 6))
    few = fit_station(CFG, history, recent_only)
    assert few.rain_forecast_area is None and "needed" in few.rain_forecast_note
    assert not any(f.rain_ahead for f in few.horizons)


def test_simulated_rain_forecasts_are_reproducible_and_wrong_as_real_ones_are() -> None:
    template = [Burst(start_s=0, duration_s=86400, total_mm=300)]
    storms = seeded_storms(template, 7, 60)
    hours = 60 * 24
    a, b = qpf_issues(storms, hours, 1), qpf_issues(storms, hours, 1)
    assert a == b and a != qpf_issues(storms, hours, 2)
    e = QpfErrors()
    assert [h for h, _ in a] == list(range(0, hours, e.every_h))
    assert all(len(mm) == e.reach_h and min(mm) >= 0 for _, mm in a)

    # Storm by storm, the 24 h forecast a day ahead against the true depth: off, both ways, never exact.
    starts = [min(bu.start_s for bu in bursts) / 3600 for _, bursts in storms]
    truth = {round(s): sum(bu.total_mm for bu in bursts) for s, (_, bursts) in zip(starts, storms, strict=True)}
    ratios = []
    for s, depth in truth.items():
        h = max(k for k, _ in a if k <= s - 6)
        ratios.append(sum(next(mm for k, mm in a if k == h)) / depth)
    assert min(ratios) < 0.9 and max(ratios) > 1.1
    # Rain forecast where no storm came within a day of it: the phantoms.
    wet_hours = {round(s) + k for s in starts for k in range(-24, 48)}
    assert any(sum(mm[:24]) > 20 and h not in wet_hours for h, mm in a)
