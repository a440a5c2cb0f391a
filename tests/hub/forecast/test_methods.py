"""Station models: the regression finds the upstream travel time and beats persistence where it should, falls back
to persistence where it cannot, and a forecast uses only what was measured by its issue time."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime

import pytest

from hub.forecast.base import HOUR, ForecastPoint, HourlySeries
from hub.forecast.config import StationForecastConfig, Upstream
from hub.forecast.station import StationModel, fit_station

T0 = datetime(2026, 9, 1, tzinfo=UTC)
N = 24 * 30
TRAVEL_H = 5


def _upstream_waves(n: int, seed: int = 3) -> list[float]:
    """Flood waves of random size every few days on a 2 m base: smooth rises and recessions."""
    rng = random.Random(seed)
    level = [2.0] * n
    t = 20
    while t < n:
        size, width = rng.uniform(0.5, 3.0), rng.uniform(10, 30)
        for i in range(n):
            x = (i - t) / width
            if x > 0:
                level[i] += size * x * math.exp(1 - x)  # a gamma-shaped wave peaking ``width`` h after t
        t += rng.randint(60, 120)
    return level


def _pair() -> tuple[list[float], list[float]]:
    up = _upstream_waves(N)
    down = [1.0 + 0.8 * up[max(0, i - TRAVEL_H)] for i in range(N)]
    return up, down


def _history(**series: list[float]) -> dict[str, HourlySeries]:
    return {k: HourlySeries(T0, tuple(v)) for k, v in series.items()}


def test_regression_finds_the_travel_time_and_beats_persistence_within_it() -> None:
    up, down = _pair()
    cfg = StationForecastConfig(station_id="down", upstream=[Upstream(station_id="up")])
    model = fit_station(cfg, _history(down=down, up=up))
    d = model.describe()
    assert d["upstream"][0]["travel_time_h"] == TRAVEL_H
    assert d["upstream"][0]["source"].startswith("lagged correlation")
    for hz in d["horizons"][:TRAVEL_H]:
        assert hz["method"] == "regression"
        assert hz["held_out_skill"] > 0.95  # within the travel time the downstream level is already upstream
    json.dumps(d)  # JSON-able as promised

    # Issued on a rising limb: the forecast follows the wave already seen upstream.
    i = max(range(24, N - 24), key=lambda k: down[k + 3] - down[k])
    recent = _history(down=down[: i + 1], up=up[: i + 1])
    fc = model.forecast(recent, T0 + i * HOUR, horizon_h=6)
    assert fc.source == "model" and fc.method == "regression"
    assert [p.horizon_h for p in fc.points] == [1, 2, 3, 4, 5, 6]
    for p in fc.points[:TRAVEL_H]:
        assert abs(p.level_m - down[i + p.horizon_h]) < 0.05
        assert p.lower_m <= p.level_m <= p.upper_m
    assert abs(fc.points[2].level_m - down[i + 3]) < 0.2 * abs(down[i + 3] - down[i])  # far better than persistence


def test_a_configured_travel_time_is_used_as_given() -> None:
    up, down = _pair()
    cfg = StationForecastConfig(station_id="down", upstream=[Upstream(station_id="up", travel_time_h=4)])
    d = fit_station(cfg, _history(down=down, up=up)).describe()
    assert d["upstream"][0] == {"station_id": "up", "travel_time_h": 4.0, "source": "configured"}


def test_falls_back_to_persistence_where_the_regression_does_not_beat_it() -> None:
    rng = random.Random(11)
    walk, level = [], 5.0
    for _ in range(N):
        level += rng.gauss(0, 0.02)  # a random walk: nothing in its past says where it goes next
        walk.append(level)
    noise = [rng.gauss(3.0, 0.3) for _ in range(N)]
    cfg = StationForecastConfig(station_id="s", upstream=[Upstream(station_id="u")], min_skill=0.05)
    model = fit_station(cfg, _history(s=walk, u=noise))
    d = model.describe()
    assert d["upstream"][0]["travel_time_h"] is None  # pure noise upstream: no lag correlates
    assert "not used" in d["upstream"][0]["source"]
    assert all(hz["method"] == "persistence" for hz in d["horizons"])
    assert all("persistence: regression's held-out skill" in hz["note"] for hz in d["horizons"])
    fc = model.forecast(_history(s=walk), T0 + (N - 1) * HOUR)
    assert fc.method == "persistence"
    assert all(p.level_m == walk[-1] for p in fc.points)
    assert len(fc.points) == 24
    widths = [p.upper_m - p.lower_m for p in fc.points]
    assert widths[23] > widths[0] > 0  # a random walk's spread grows with the horizon


def test_persistence_configured_never_fits_a_regression() -> None:
    up, down = _pair()
    cfg = StationForecastConfig(station_id="down", upstream=[Upstream(station_id="up")], method="persistence")
    d = fit_station(cfg, _history(down=down, up=up)).describe()
    assert {hz["method"] for hz in d["horizons"]} == {"persistence"}
    assert all(hz["coefficients"] is None for hz in d["horizons"])


def test_too_little_history_names_the_station() -> None:
    cfg = StationForecastConfig(station_id="kim-long", min_history_h=240)
    with pytest.raises(ValueError, match="kim-long: 100 usable hours of history, 240 needed"):
        fit_station(cfg, _history(**{"kim-long": [1.0] * 100}))
    with pytest.raises(ValueError, match="kim-long: no history"):
        fit_station(cfg, {})


def test_missing_values_are_not_history() -> None:
    values = [1.0 + 0.01 * i if i % 2 else math.nan for i in range(600)]  # every other hour missing
    cfg = StationForecastConfig(station_id="s", min_history_h=400)
    # Gaps of one hour are bridged, so 600 hours count; with gaps of 5 h they would not.
    fit_station(cfg, _history(s=values))
    sparse = [v if i % 6 == 0 else math.nan for i, v in enumerate([1.0] * 600)]
    with pytest.raises(ValueError, match="s: 100 usable hours"):
        fit_station(cfg, _history(s=sparse))


def test_a_forecast_never_reads_values_after_its_issue_time() -> None:
    up, down = _pair()
    cfg = StationForecastConfig(station_id="down", upstream=[Upstream(station_id="up")])
    model = fit_station(cfg, _history(down=down, up=up))
    i = 400
    issued = T0 + i * HOUR
    past = model.forecast(_history(down=down[: i + 1], up=up[: i + 1]), issued)
    with_future = model.forecast(_history(down=down, up=up), issued)
    assert past == with_future


def test_a_silent_upstream_gauge_means_persistence_for_that_forecast() -> None:
    up, down = _pair()
    cfg = StationForecastConfig(station_id="down", upstream=[Upstream(station_id="up")])
    model = fit_station(cfg, _history(down=down, up=up))
    i = 400
    gone = up[: i - 10] + [math.nan] * 11  # upstream silent for the last 11 hours
    fc = model.forecast(_history(down=down[: i + 1], up=gone), T0 + i * HOUR)
    assert fc.method == "persistence"
    assert {p.level_m for p in fc.points} == {down[i]}


def test_no_recent_reading_of_the_station_is_an_error() -> None:
    _, down = _pair()
    model = fit_station(StationForecastConfig(station_id="down"), _history(down=down))
    stale = down[:396] + [math.nan] * 5
    with pytest.raises(ValueError, match="down: no reading in the 3 h before"):
        model.forecast(_history(down=stale), T0 + 400 * HOUR)
    with pytest.raises(ValueError, match="horizon_h must be 1-24"):
        model.forecast(_history(down=down), T0 + 400 * HOUR, horizon_h=25)


def test_the_band_widens_when_the_river_moves() -> None:
    up, _ = _pair()
    steady = min(range(24, N), key=lambda k: abs(up[k] - up[k - 3]))
    rising = max(range(24, N), key=lambda k: up[k] - up[k - 3])

    def point_6h(model: StationModel, i: int) -> ForecastPoint:
        return model.forecast(_history(up=up[: i + 1]), T0 + i * HOUR, horizon_h=6).points[5]

    # Persistence: 6-hour changes are far larger on a rise than on a steady river, and so is its band.
    persistence = fit_station(StationForecastConfig(station_id="up", method="persistence"), _history(up=up))
    wide, narrow = point_6h(persistence, rising), point_6h(persistence, steady)
    assert wide.upper_m - wide.lower_m > 5 * (narrow.upper_m - narrow.lower_m)

    # The regression: each forecast takes the band of its activity class, whatever the classes' widths turned out.
    model = fit_station(StationForecastConfig(station_id="up"), _history(up=up))
    band = model.describe()["horizons"][5]["band"]
    assert len(band["offsets_m"]) == 3 and len(band["activity_edges_m"]) == 2
    for i, cls in ((steady, 0), (rising, 2)):
        p = point_6h(model, i)
        lo, hi = band["offsets_m"][cls]
        assert (p.lower_m - p.level_m, p.upper_m - p.level_m) == (
            pytest.approx(lo, abs=1e-4),
            pytest.approx(hi, abs=1e-4),
        )


def _rainy_basin(n: int = N, seed: int = 5) -> tuple[list[float], list[float], list[float]]:
    """A fast basin: rain storms every few days, the river responding to each hour's rain after 3 h and peaking 7 h
    after it (a delayed gamma shape), and two gauges that each read the basin's rain ± 20 %."""
    rng = random.Random(seed)
    rain = [0.0] * n
    t = 30
    while t < n - 30:
        for k in range(rng.randint(6, 18)):
            rain[t + k] = rng.uniform(2.0, 12.0)
        t += rng.randint(70, 130)
    level = [1.0] * n
    for i, r in enumerate(rain):
        if r:
            for j in range(i + 4, min(n, i + 60)):
                x = (j - i - 3) / 4.0
                level[j] += 0.01 * r * x * math.exp(1 - x)
    g1 = [r * rng.uniform(0.8, 1.2) for r in rain]
    g2 = [r * rng.uniform(0.8, 1.2) for r in rain]
    return level, g1, g2


RAIN_CFG = {"rain": [{"node_id": "g1", "sensor_id": "rain"}, {"node_id": "g2", "sensor_id": "rain"}]}


def test_basin_rain_forecasts_the_rise_before_the_river_shows_it() -> None:
    level, g1, g2 = _rainy_basin()
    with_rain = StationForecastConfig.model_validate({"station_id": "s", **RAIN_CFG})
    history = _history(s=level, **{"rain:g1/rain": g1, "rain:g2/rain": g2})
    model = fit_station(with_rain, history)
    plain = fit_station(StationForecastConfig(station_id="s"), history)
    d = model.describe()
    assert d["rain_gauges"] == ["rain:g1/rain", "rain:g2/rain"] and d["rain_note"] == ""
    six = d["horizons"][5]
    assert six["rain"] and six["note"].startswith("rain: held-out MSE")
    assert six["held_out_skill"] > six["held_out_skill_without_rain"] + 0.1
    assert "rain_0_3h" in six["coefficients"] and six["coefficients"]["rain_0_3h"] > 0

    # Issued three hours into a storm, before the river has moved: only the rain says what is coming.
    i = next(k for k in range(48, N - 12) if g1[k] and not g1[k - 1] and level[k] == level[k - 3]) + 2
    issued = T0 + i * HOUR
    recent = {k: HourlySeries(T0, v.values[: i + 1]) for k, v in history.items()}
    rise = level[i + 6] - level[i]
    f_rain = model.forecast(recent, issued).points[5].level_m - level[i]
    f_plain = plain.forecast(recent, issued).points[5].level_m - level[i]
    assert abs(f_rain - rise) < abs(f_plain - rise) / 2


def test_silent_rain_gauges_mean_the_fit_without_rain() -> None:
    level, g1, g2 = _rainy_basin()
    cfg = StationForecastConfig.model_validate({"station_id": "s", **RAIN_CFG})
    history = _history(s=level, **{"rain:g1/rain": g1, "rain:g2/rain": g2})
    model = fit_station(cfg, history)
    issued = T0 + (N - 1) * HOUR
    with_rain = model.forecast(history, issued)
    silent = model.forecast({"s": history["s"]}, issued)  # no gauge reported: the fit without rain, not nothing
    assert with_rain.method == silent.method == "regression"
    six = model.horizons[5]
    assert six.rain and six.without_rain is not None and six.without_rain.method == "regression"
    # One gauge silent: the other speaks for the basin.
    one = model.forecast({"s": history["s"], "rain:g2/rain": history["rain:g2/rain"]}, issued)
    assert one.points[5].level_m != silent.points[5].level_m


def test_rain_that_explains_nothing_is_not_used() -> None:
    level, _, _ = _rainy_basin()
    rng = random.Random(9)
    noise = [rng.choice([0.0, 0.0, 0.0, rng.uniform(0, 5)]) for _ in level]  # rain somewhere else
    cfg = StationForecastConfig.model_validate({"station_id": "s", "rain": [{"node_id": "g1", "sensor_id": "rain"}]})
    model = fit_station(cfg, _history(s=level, **{"rain:g1/rain": noise}))
    unused = [f.horizon_h for f in model.horizons if not f.rain]
    assert len(unused) >= 20  # kept, at most, where chance made it a hair better on held-out hours
    few = fit_station(cfg, _history(s=level, **{"rain:g1/rain": [math.nan] * (N - 100) + noise[-100:]}))
    assert few.rain_note.startswith("rain not used: 100 hours of basin rain") and not any(f.rain for f in few.horizons)


def test_a_rain_forecast_of_a_big_rise_gets_a_wider_band_than_a_dry_one() -> None:
    level, g1, g2 = _rainy_basin()
    cfg = StationForecastConfig.model_validate({"station_id": "s", **RAIN_CFG})
    history = _history(s=level, **{"rain:g1/rain": g1, "rain:g2/rain": g2})
    model = fit_station(cfg, history)
    storm = next(k for k in range(48, N - 12) if g1[k] and not g1[k - 1] and level[k] == level[k - 3]) + 2
    dry = next(k for k in range(storm + 100, N) if not any(g1[k - 30 : k + 1]) and level[k] - level[k - 3] == 0)

    def width(i: int) -> float:
        recent = {k: HourlySeries(T0, v.values[: i + 1]) for k, v in history.items()}
        p = model.forecast(recent, T0 + i * HOUR).points[5]
        return p.upper_m - p.lower_m

    # Both issued on a river that has not moved for 3 hours: the rain, not the river, says which is uncertain.
    assert width(storm) > 2 * width(dry)
