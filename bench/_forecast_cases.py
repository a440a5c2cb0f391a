"""The forecast benchmark's cases: hydrographs to fit on and to forecast, from the simulator and from Hub'Eau.

A case is one station with its upstream gauges: hourly series over a fitting stretch followed by a test stretch,
and the thresholds whose crossings are warned. Simulator cases come from the typhoon_flood scenario's three river
stations, each over a season of seeded storms; Long Biên is fed by Sơn Tây through a routed reach. Each simulated
station also has the rain gauges of its basin, reporting the storms that drive it; the real cases have none
(Hub'Eau serves levels and flows, not rain).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bench._forecast_hubeau import PAIRS, Pair, load
from hub.forecast.config import RainGauge, Upstream
from hub.forecast.rain_forecast import RainForecast, RainForecasts
from simulators.sensors.hydrology import Routing
from simulators.sensors.rain_forecast import qpf_issues
from simulators.sensors.routing import (
    gain_for_peak,
    gauge_rain,
    hourly_runoff,
    route_reach,
    seeded_storms,
    stage_from_flow,
    with_noise,
)
from simulators.sensors.scenario import load_scenario
from wire.nodeconfig.simulated import Burst, RiverStageParams

T0 = datetime(2026, 9, 1, tzinfo=UTC)
HOUR_TD = timedelta(hours=1)
# Sơn Tây to Hà Nội (Long Biên): a round figure for the wave's travel time, and how much the reach flattens it.
# Illustrative, like the share of Long Biên's flow that comes from Sơn Tây (the rest: the local basin).
REACH_TRAVEL_H = 6.0
REACH_ATTENUATION_H = 3.0
UPSTREAM_SHARE = 0.75
NOISE_SD_M = 0.005
MISSING_SHARE = 0.01
# The predictors reach back at most the longest travel time searched (48 h) plus a few hours.
SEAM_H = 54
# The basins' rain gauges (simulators/scenarios/typhoon_flood.yaml): Sơn Tây's own gauge (±15 % of the basin's
# rain, ±30 min); at Long Biên and Kim Long the station's gauge and two of the area's, each given the spread of the
# area's group (Hà Nội ±25 %, ±1 h; Huế ±30 %, ±45 min) rather than the station gauge's none, so that no gauge
# reads the basin's rain exactly. 0.2 mm tipping buckets; each misses 1 % of its hours, as the stage does.
RAIN_GAUGES: dict[str, tuple[list[str], float, float]] = {
    "hong-son-tay": (["river-sontay-01"], 0.15, 1800.0),
    "hong-ha-noi-long-bien": (["river-longbien-01", "rain-hn-001", "rain-hn-002"], 0.25, 3600.0),
    "huong-kim-long": (["river-kimlong-01", "rain-hue-001", "rain-hue-002"], 0.3, 2700.0),
}


@dataclass
class Case:
    source: str  # "simulator" or "real"
    name: str
    station_id: str
    start: datetime
    series: dict[str, list[float]]  # station id -> hourly levels from ``start`` (NaN: missing)
    fit_h: int  # hours fitted on; the rest is forecast
    thresholds: list[tuple[int, str, float]]
    upstream: list[Upstream] = field(default_factory=list)
    note: str = ""
    # Hours after fit_h before the first forecast: where the test stretch was laid after a fitting stretch that
    # did not precede it in time, the first forecasts would read across that seam, so none is issued there.
    seam_h: int = 0
    rain: list[RainGauge] = field(default_factory=list)  # their hourly series are in ``series`` under ``.key``
    rain_forecasts: RainForecasts | None = None  # the basin's rain forecasts (QPF), if any


def _stage_params(scenario: str, group: str) -> RiverStageParams:
    sc = load_scenario(scenario)
    g = next(g for g in sc.groups if g.name == group)
    s = next(s for s in g.sensors if s.id == "stage")
    return RiverStageParams.model_validate(s.params)


def _levels(scenario: str, group: str) -> list[tuple[int, str, float]]:
    g = next(g for g in load_scenario(scenario).groups if g.name == group)
    a = g.site.alarm_levels
    assert a is not None
    return [(1, "BĐ1", a.bd1_m), (2, "BĐ2", a.bd2_m), (3, "BĐ3", a.bd3_m)]


def _flow(p: RiverStageParams, bursts: list[Burst], hours: int) -> list[float]:
    return hourly_runoff(Routing(p.lag_s, p.recession_s, p.reservoirs), bursts, hours)


def simulator_cases(seed: int, fit_days: int = 30, test_days: int = 15) -> list[Case]:
    """Sơn Tây, Long Biên (Sơn Tây upstream) and Kim Long over one seeded season; the rating gains are those that
    put the scenario's own storm at its configured peak, so a bigger seeded storm rises higher."""
    hours = (fit_days + test_days) * 24
    days = fit_days + test_days
    st, lb, kl = (_stage_params("typhoon_flood", g) for g in ("hanoi-sontay", "hanoi-longbien", "hue-kimlong"))
    cal_h = 10 * 24

    # Hồng: one season of storms over the upper basin. Long Biên's own basin gets storms of its own (another seed:
    # other times, other sizes), which no gauge in the model sees: the unexplained share of its flow.
    storms = seeded_storms(st.bursts, seed, days)
    local = seeded_storms(lb.bursts, seed + 7919, days)
    st_q = _flow(st, [b for _, bs in storms for b in bs], hours)
    st_gain = gain_for_peak(max(_flow(st, st.bursts, cal_h)), st.base_m, st.peak_m or 0.0, st.rating_exponent)
    lb_local_q = _flow(lb, [b for _, bs in local for b in bs], hours)

    def long_bien_flow(up_q: list[float], local_q: list[float]) -> list[float]:
        routed = route_reach(up_q, REACH_TRAVEL_H, REACH_ATTENUATION_H)
        return [UPSTREAM_SHARE * a + (1 - UPSTREAM_SHARE) * b for a, b in zip(routed, local_q, strict=True)]

    cal_lb = long_bien_flow(_flow(st, st.bursts, cal_h), _flow(lb, lb.bursts, cal_h))
    lb_gain = gain_for_peak(max(cal_lb), lb.base_m, lb.peak_m or 0.0, lb.rating_exponent)
    st_stage = stage_from_flow(st_q, st.base_m, st_gain, st.rating_exponent)
    lb_stage = stage_from_flow(long_bien_flow(st_q, lb_local_q), lb.base_m, lb_gain, lb.rating_exponent)

    # Hương: its own storms; no gauge upstream is configured.
    kl_storms = seeded_storms(kl.bursts, seed + 104729, days, scale_median=0.6)
    kl_q = _flow(kl, [b for _, bs in kl_storms for b in bs], hours)
    kl_gain = gain_for_peak(max(_flow(kl, kl.bursts, cal_h)), kl.base_m, kl.peak_m or 0.0, kl.rating_exponent)
    kl_stage = stage_from_flow(kl_q, kl.base_m, kl_gain, kl.rating_exponent)

    def noisy(x: list[float], k: int) -> list[float]:
        return with_noise(x, seed * 31 + k, NOISE_SD_M, MISSING_SHARE)

    def gauges(station: str, basin_storms: list[tuple[float, list[Burst]]], k: int) -> dict[str, list[float]]:
        nodes, jitter, shift_s = RAIN_GAUGES[station]
        out = {}
        for j, node in enumerate(nodes):
            mm = gauge_rain(basin_storms, hours, seed * 131 + k * 17 + j, jitter=jitter, shift_s=shift_s)
            out[RainGauge(node_id=node, sensor_id="rain").key] = with_noise(
                mm, seed * 37 + k * 7 + j, 0.0, MISSING_SHARE
            )
        return out

    def qpf(area: str, basin_storms: list[tuple[float, list[Burst]]], k: int) -> RainForecasts:
        return RainForecasts(
            RainForecast(area, T0 + i * HOUR_TD, T0 + (i + 1) * HOUR_TD, tuple(mm))
            for i, mm in qpf_issues(basin_storms, hours, seed * 53 + k)
        )

    fit_h = fit_days * 24
    st_obs = noisy(st_stage, 1)
    st_rain, lb_rain, kl_rain = (
        gauges("hong-son-tay", storms, 1),
        gauges("hong-ha-noi-long-bien", local, 2),
        gauges("huong-kim-long", kl_storms, 3),
    )
    return [
        Case("simulator", f"son-tay-{seed}", "hong-son-tay", T0, {"hong-son-tay": st_obs, **st_rain}, fit_h,
             _levels("typhoon_flood", "hanoi-sontay"), rain=_rain_cfg("hong-son-tay"),
             rain_forecasts=qpf("hong-upper", storms, 1)),
        Case("simulator", f"long-bien-{seed}", "hong-ha-noi-long-bien", T0,
             {"hong-ha-noi-long-bien": noisy(lb_stage, 2), "hong-son-tay": st_obs, **lb_rain}, fit_h,
             _levels("typhoon_flood", "hanoi-longbien"), [Upstream(station_id="hong-son-tay")],
             rain=_rain_cfg("hong-ha-noi-long-bien"), rain_forecasts=qpf("hanoi-local", local, 2)),
        Case("simulator", f"kim-long-{seed}", "huong-kim-long", T0, {"huong-kim-long": noisy(kl_stage, 3), **kl_rain},
             fit_h, _levels("typhoon_flood", "hue-kimlong"), rain=_rain_cfg("huong-kim-long"),
             rain_forecasts=qpf("huong", kl_storms, 3)),
    ]  # fmt: skip


def _rain_cfg(station: str) -> list[RainGauge]:
    return [RainGauge(node_id=node, sensor_id="rain") for node in RAIN_GAUGES[station][0]]


def _illustrative_thresholds(values: list[float]) -> list[tuple[int, str, float]]:
    """Three levels at 25, 50 and 75 % of the way from the median stage to the highest: Hub'Eau carries no
    alarm levels, and these stand in for them only to count warnings (not Vigicrues' vigilance levels)."""
    vals = sorted(v for v in values if not math.isnan(v))
    med, top = vals[len(vals) // 2], vals[-1]
    return [(k, f"L{k}", round(med + (top - med) * k / 4, 2)) for k in (1, 2, 3)]


def _sid(site_code: str) -> str:
    """A station id from a Hub'Eau site code (ids are lower case)."""
    return site_code.lower()


def _pair_series(pair: Pair) -> tuple[datetime, dict[str, list[float]]]:
    (s_up, up), (s_down, down) = load(pair, pair.upstream[0]), load(pair, pair.downstream[0])
    if s_up != s_down:
        raise ValueError(f"{pair.name}: upstream and downstream start at different hours")
    n = min(len(up), len(down))
    return s_up, {_sid(pair.downstream[0]): down[:n], _sid(pair.upstream[0]): up[:n]}


def real_cases() -> list[Case]:
    """Aude (Carcassonne -> Puichéric): fitted on one month, tested on the other, both ways. Gardon (Anduze ->
    Ners) and Hérault (Laroque -> Gignac): one month each, split in halves, each fitted on one half and tested on
    the other (the second half holds the flood of 19-20 September 2020)."""
    by_name = {p.name: p for p in PAIRS}
    out = []
    jan, apr = by_name["aude-2020-01"], by_name["aude-2020-04"]
    sj, dj = _pair_series(jan)
    sa, da = _pair_series(apr)
    site, up = _sid(jan.downstream[0]), _sid(jan.upstream[0])
    thresholds = _illustrative_thresholds(dj[site] + da[site])
    for name, (_, fit_d), (test_s, test_d) in (
        ("aude-fit-apr-test-jan", (sa, da), (sj, dj)),
        ("aude-fit-jan-test-apr", (sj, dj), (sa, da)),
    ):
        # The two months are not contiguous: the test month is laid right after the fitting one, and no forecast
        # is issued until its predictors all lie in the test month (SEAM_H).
        n_fit = len(fit_d[site])
        series = {k: fit_d[k] + test_d[k] for k in (site, up)}
        start = test_s - timedelta(hours=n_fit)
        out.append(
            Case("real", name, site, start, series, n_fit, thresholds, [Upstream(station_id=up)],
                 "Aude, Carcassonne -> Puichéric", SEAM_H)
        )  # fmt: skip
    for key in ("gard-2020-09", "herault-2020-09"):
        pair = by_name[key]
        start, series = _pair_series(pair)
        site, up = _sid(pair.downstream[0]), _sid(pair.upstream[0])
        half = len(series[site]) // 2
        thresholds = _illustrative_thresholds(series[site])
        note = f"{pair.river}, {pair.upstream[1]} -> {pair.downstream[1]}"
        # Both halves in turn: the first is fitted and the second (the flood) forecast, then the other way round
        # (the second half laid first, as for the Aude months).
        swapped = {k: v[half:] + v[:half] for k, v in series.items()}
        out.append(Case("real", f"{key}-fit-first-half", site, start, series, half, thresholds,
                        [Upstream(station_id=up)], note))  # fmt: skip
        out.append(Case("real", f"{key}-fit-second-half", site, start, swapped, len(series[site]) - half,
                        thresholds, [Upstream(station_id=up)], note, SEAM_H))  # fmt: skip
    return out
