"""A river station's forecast model: fitted on its history, then asked for a forecast every hour.

Per horizon (1-24 h) the model is either an ARX regression (the station's own recent changes, each upstream
gauge's changes one travel time earlier and, where rain gauges are configured, the basin's recent rain; least
squares with a light ridge) or persistence. The regression is kept for a horizon only if it beat persistence on
history it was not fitted on (three contiguous blocks, each held out in turn); otherwise that horizon falls back to
persistence, and ``describe`` says so. The rain predictors are kept for a horizon only if, on the same held-out
hours, the regression with them beat the regression without them; so is the rain forecast to fall over the horizon
(hub/forecast/rain_forecast.py), judged against the best fit without it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hub.forecast.align import hours_between, on_grid
from hub.forecast.bands import Bands, activity
from hub.forecast.base import HOUR, MAX_HORIZON_H, Forecast, ForecastPoint, HourlySeries
from hub.forecast.config import StationForecastConfig
from hub.forecast.features import RAIN_WINDOWS_H, UpstreamLag, basin_rain, feature_names, features, lookback_h
from hub.forecast.linalg import Gram, dot
from hub.forecast.persistence import change_pairs
from hub.forecast.rain_forecast import RainForecasts
from hub.forecast.travel import MIN_CORRELATION, find_travel_time

FOLDS = 3
RIDGE = 1e-3
# A forecast needs a reading of its own station at most this many hours before the issue time.
MAX_STALE_H = 3


@dataclass(frozen=True)
class HorizonFit:
    """What one horizon uses, and how it did on held-out history."""

    horizon_h: int
    method: str  # "regression" or "persistence"
    coefficients: tuple[float, ...] | None  # the regression's, refitted on all history; None for persistence
    bands: Bands  # the 80 % band of the method used, by how fast the river moves
    persistence_bands: Bands  # the same for persistence, used when a predictor is missing
    skill: float | None  # held-out 1 - MSE(regression) / MSE(persistence); None when not tried
    rmse_m: float | None  # held-out RMSE of the regression
    rmse_persistence_m: float | None  # held-out RMSE of persistence on the same hours
    note: str
    rain: bool = False  # the coefficients include the rain windows (features.RAIN_WINDOWS_H)
    # With rain: the same horizon fitted without it, used when the basin rain is missing at forecast time, and
    # the held-out skill the rain added over it.
    without_rain: HorizonFit | None = None
    # With the rain forecast over the horizon as the last predictor: the fit without it (used when no forecast
    # covers the horizon at forecast time).
    rain_ahead: bool = False
    without_rain_ahead: HorizonFit | None = None

    def fallback(self) -> HorizonFit | None:
        """The same horizon fitted without the predictor group added last, when that one is missing."""
        return self.without_rain_ahead if self.rain_ahead else self.without_rain


@dataclass(frozen=True)
class UpstreamUse:
    station_id: str
    travel_time_h: float | None  # None: not used
    source: str  # "configured", "lagged correlation r=0.83", or why it is not used


@dataclass(frozen=True)
class StationModel:
    """A fitted station model; pure and immutable, safe to share between threads."""

    station_id: str
    fitted_until: datetime
    own_mean_m: float
    lags: tuple[UpstreamLag, ...]
    upstream: tuple[UpstreamUse, ...]
    horizons: tuple[HorizonFit, ...]
    history_h: int
    rain_gauges: tuple[str, ...] = ()  # the history keys of the gauges the rain predictors read (RainGauge.key)
    rain_note: str = ""
    rain_forecast_area: str | None = None  # whose rain forecasts the horizons with ``rain_ahead`` read
    rain_forecast_note: str = ""

    def forecast(
        self,
        recent: Mapping[str, HourlySeries],
        issued: datetime,
        horizon_h: int = 24,
        rain_forecasts: RainForecasts | None = None,
    ) -> Forecast:
        """A forecast issued at ``issued`` (a whole hour) from the levels in ``recent`` up to that hour.

        ``recent`` holds this station's and its upstream gauges' hourly series, and its rain gauges' hourly sums
        under ``RainGauge.key`` (at least the last day is plenty); values after ``issued`` are ignored.
        ValueError when the station has no reading in the last ``MAX_STALE_H`` hours. A horizon whose regression
        lacks a predictor (an upstream gauge silent) falls back to persistence for this forecast; ``method`` then
        reads ``regression+persistence``. A horizon that uses rain, with every gauge silent, uses its fit
        without rain instead; one that uses the rain forecast, with no issue in ``rain_forecasts`` covering it
        (``RainForecasts.ahead``), its fit without that.
        """
        if not 1 <= horizon_h <= min(MAX_HORIZON_H, len(self.horizons)):
            raise ValueError(f"horizon_h must be 1-{len(self.horizons)}, not {horizon_h}")
        n = lookback_h(self.lags, bool(self.rain_gauges)) + 1
        start = issued - (n - 1) * HOUR
        own_series = recent.get(self.station_id)
        own = on_grid(_until(own_series, issued), start, n, max_fill_h=MAX_STALE_H)
        now = own[-1]
        if math.isnan(now):
            raise ValueError(
                f"station {self.station_id}: no reading in the {MAX_STALE_H} h before {issued.isoformat()}"
            )
        ups = [on_grid(_until(recent.get(u.station_id), issued), start, n) for u in self.lags]
        rain = _rain(recent, self.rain_gauges, start, n, issued)
        act = activity(own, n - 1)
        points, used = [], set()
        for fit in self.horizons[:horizon_h]:
            h = fit.horizon_h
            ahead = rain_forecasts.ahead(issued, h) if rain_forecasts is not None else math.nan
            x = self._predictors(fit, own, ups, rain, ahead, n - 1)
            while x is None and (less := fit.fallback()) is not None:  # a predictor is missing: the fit without it
                fit = less
                x = self._predictors(fit, own, ups, rain, ahead, n - 1)
            if fit.method == "regression" and x is not None and fit.coefficients is not None:
                change = dot(fit.coefficients, x)
                by_change = fit.rain or fit.rain_ahead
                level, (lo, hi) = now + change, fit.bands.at(abs(change) if by_change else act)
                used.add("regression")
            else:
                level, (lo, hi) = now, fit.persistence_bands.at(act)
                used.add("persistence")
            points.append(ForecastPoint(issued + h * HOUR, h, level, level + lo, level + hi))
        method = "+".join(m for m in ("regression", "persistence") if m in used)
        return Forecast(self.station_id, issued, "model", method, tuple(points))

    def _predictors(
        self,
        fit: HorizonFit,
        own: list[float],
        ups: list[list[float]],
        rain: list[float] | None,
        ahead: float,
        i: int,
    ) -> list[float] | None:
        if not fit.coefficients:
            return None
        return features(
            own, ups, self.lags, i, fit.horizon_h, rain if fit.rain else None, ahead if fit.rain_ahead else None
        )

    def describe(self) -> dict[str, Any]:
        """The fit in JSON-able form: per horizon the method, coefficients, band and held-out skill."""
        names = feature_names(self.lags)
        return {
            "station_id": self.station_id,
            "fitted_until": self.fitted_until.isoformat(),
            "history_h": self.history_h,
            "own_mean_m": _r(self.own_mean_m),
            "upstream": [
                {"station_id": u.station_id, "travel_time_h": u.travel_time_h, "source": u.source}
                for u in self.upstream
            ],
            "predictors": names,
            "rain_gauges": list(self.rain_gauges),
            "rain_note": self.rain_note,
            "rain_forecast_area": self.rain_forecast_area,
            "rain_forecast_note": self.rain_forecast_note,
            "horizons": [
                {
                    "horizon_h": f.horizon_h,
                    "method": f.method,
                    "rain": f.rain,
                    "rain_forecast": f.rain_ahead,
                    "coefficients": dict(
                        zip(feature_names(self.lags, f.rain, f.rain_ahead), map(_r, f.coefficients), strict=True)
                    )
                    if f.coefficients
                    else None,
                    "band": f.bands.describe(),
                    "held_out_skill": _r(f.skill),
                    "held_out_rmse_m": _r(f.rmse_m),
                    "held_out_rmse_persistence_m": _r(f.rmse_persistence_m),
                    "held_out_skill_without_rain": _r(f.without_rain.skill) if f.without_rain else None,
                    "held_out_skill_without_rain_forecast": _r(f.without_rain_ahead.skill)
                    if f.without_rain_ahead
                    else None,
                    "note": f.note,
                }
                for f in self.horizons
            ],
        }


def fit_station(
    cfg: StationForecastConfig,
    history: Mapping[str, HourlySeries],
    rain_forecasts: RainForecasts | None = None,
) -> StationModel:
    """Fit ``cfg``'s station on ``history`` (hourly means of good readings, keyed by station id), and on the
    rain forecasts issued for its basin over that time (``cfg.rain_forecast``), if any.

    Only the last ``cfg.history_days`` of the station's own series are used. ValueError naming the station when
    its own series is missing or has fewer than ``cfg.min_history_h`` usable hours. An upstream gauge with too
    little overlapping history, or (travel time not configured) no lag at which it correlates, is left out and
    ``describe`` says why.
    """
    sid = cfg.station_id
    own_series = history.get(sid)
    if own_series is None or not own_series.values:
        raise ValueError(f"station {sid}: no history")
    n = min(len(own_series.values), round(cfg.history_days * 24))
    start = own_series.end - (n - 1) * HOUR
    own = on_grid(own_series, start, n)
    usable = [v for v in own if not math.isnan(v)]
    if len(usable) < cfg.min_history_h:
        raise ValueError(f"station {sid}: {len(usable)} usable hours of history, {cfg.min_history_h} needed")
    own_mean = sum(usable) / len(usable)

    lags, uses, ups = _upstream(cfg, history, own, start, n)
    keys, rain, rain_note = _basin_rain_history(cfg, history, start, n)
    area, ahead_note = _rain_forecast_use(cfg, rain_forecasts, start, n)
    horizons = []
    for h in range(1, MAX_HORIZON_H + 1):
        fit = _fit_horizon(cfg, own, ups, tuple(lags), h)
        if rain:
            fit = _with_rain(cfg, own, ups, tuple(lags), h, rain, fit)
        if area is not None and rain_forecasts is not None:
            ahead = rain_forecasts.ahead_series(start, n, h)
            fit = _with_rain_ahead(cfg, own, ups, tuple(lags), h, rain if fit.rain else None, ahead, fit)
        horizons.append(fit)
    if keys and not any(f.rain for f in horizons):
        rain_note = "rain not used: it beat the regression without it at no horizon on held-out history"
    if area is not None and not any(f.rain_ahead for f in horizons):
        area, ahead_note = None, "rain forecast not used: it beat the fit without it at no horizon on held-out history"
    return StationModel(
        sid,
        own_series.end,
        own_mean,
        tuple(lags),
        tuple(uses),
        tuple(horizons),
        len(usable),
        keys,
        rain_note,
        area,
        ahead_note,
    )


def _upstream(
    cfg: StationForecastConfig, history: Mapping[str, HourlySeries], own: list[float], start: datetime, n: int
) -> tuple[list[UpstreamLag], list[UpstreamUse], list[list[float]]]:
    """The upstream gauges the regression reads (with their travel times and series), and what became of each."""
    lags: list[UpstreamLag] = []
    uses: list[UpstreamUse] = []
    ups: list[list[float]] = []
    for up in cfg.upstream:
        series = on_grid(history.get(up.station_id), start, n)
        overlap = sum(1 for a, b in zip(own, series, strict=True) if not (math.isnan(a) or math.isnan(b)))
        if overlap < cfg.min_history_h:
            uses.append(UpstreamUse(up.station_id, None, f"not used: {overlap} hours of history overlap"))
            continue
        if up.travel_time_h is not None:
            travel, source = up.travel_time_h, "configured"
        else:
            lag, r = find_travel_time(own, series, math.floor(cfg.max_travel_time_h))
            if math.isnan(r) or r < MIN_CORRELATION:
                uses.append(UpstreamUse(up.station_id, None, f"not used: no lag correlates (best r={r:.2f})"))
                continue
            travel, source = float(lag), f"lagged correlation r={r:.2f}"
        lags.append(UpstreamLag(up.station_id, round(travel)))
        uses.append(UpstreamUse(up.station_id, travel, source))
        ups.append(series)

    return lags, uses, ups


def _basin_rain_history(
    cfg: StationForecastConfig, history: Mapping[str, HourlySeries], start: datetime, n: int
) -> tuple[tuple[str, ...], list[float], str]:
    """The rain gauges' keys and the basin rain to fit on; none, and why, when there is too little of it."""
    keys = tuple(g.key for g in cfg.rain)
    rain = basin_rain([on_grid(history.get(k), start, n, max_fill_h=0) for k in keys])
    rain_hours = sum(1 for v in rain if not math.isnan(v))
    rain_note = ""
    if cfg.method == "persistence":
        keys, rain = (), []
    elif keys and rain_hours < cfg.min_history_h:
        rain_note = f"rain not used: {rain_hours} hours of basin rain, {cfg.min_history_h} needed"
        keys, rain = (), []
    return keys, rain, rain_note


def _rain_forecast_use(
    cfg: StationForecastConfig, rain_forecasts: RainForecasts | None, start: datetime, n: int
) -> tuple[str | None, str]:
    """The area whose rain forecasts are tried as a predictor, or None and why not."""
    if cfg.rain_forecast is None or cfg.method == "persistence":
        return None, ""
    if rain_forecasts is None or not len(rain_forecasts):
        return None, f"rain forecast not used: no forecasts stored for area {cfg.rain_forecast}"
    covered = sum(1 for v in rain_forecasts.ahead_series(start, n, MAX_HORIZON_H) if not math.isnan(v))
    if covered < cfg.min_history_h:
        return None, f"rain forecast not used: {covered} hours of history had one, {cfg.min_history_h} needed"
    return cfg.rain_forecast, ""


def _fit_horizon(
    cfg: StationForecastConfig,
    own: list[float],
    ups: list[list[float]],
    lags: tuple[UpstreamLag, ...],
    h: int,
) -> HorizonFit:
    p_band = Bands.fit(change_pairs(own, h))
    if cfg.method == "persistence":
        return HorizonFit(h, "persistence", None, p_band, p_band, None, None, None, "persistence configured")
    rows, row_index = _rows(own, ups, lags, h, None)
    size = len(feature_names(lags))
    if len(rows) < max(cfg.min_history_h // 2, 10 * size):
        note = f"persistence: only {len(rows)} complete rows to fit"
        return HorizonFit(h, "persistence", None, p_band, p_band, None, None, None, note)
    try:
        held = _held_out(rows, row_index, own, size)
    except ValueError as exc:
        return HorizonFit(h, "persistence", None, p_band, p_band, None, None, None, f"persistence: {exc}")
    return _judged(cfg, h, held, p_band, len(rows))


def _if_better(
    cfg: StationForecastConfig,
    h: int,
    rows: list[tuple[list[float], float]],
    row_index: list[int],
    own: list[float],
    extra: int,
    base: HorizonFit,
) -> tuple[HorizonFit, float] | None:
    """The regression on ``rows`` and its gain in held-out MSE over the same regression without its last ``extra``
    predictors, on exactly these rows; None where it did not beat that (or persistence), or there are too few rows.
    Its bands are classed by the size of the forecast change, not by the river's last 3 hours: with rain, measured
    or forecast, the model forecasts rises while the river is still steady, and those err by as much as the storm
    is misjudged."""
    size = len(rows[0][0]) if rows else 0
    if len(rows) < max(cfg.min_history_h // 2, 10 * size):
        return None
    try:
        held = _held_out(rows, row_index, own, size, by_change=True)
        plain = _held_out([(x[: size - extra], y) for x, y in rows], row_index, own, size - extra)
    except ValueError:
        return None
    if not held.sse_model < plain.sse_model:
        return None
    fit = _judged(cfg, h, held, base.persistence_bands, len(rows))
    if fit.method != "regression":
        return None
    return fit, 1.0 - held.sse_model / plain.sse_model


def _with_rain(
    cfg: StationForecastConfig,
    own: list[float],
    ups: list[list[float]],
    lags: tuple[UpstreamLag, ...],
    h: int,
    rain: list[float],
    base: HorizonFit,
) -> HorizonFit:
    """``base`` (the horizon fitted without rain), or the regression with the rain windows where that beat the
    regression without them on the same held-out hours (and beat persistence): rain is kept only where it helps."""
    rows, row_index = _rows(own, ups, lags, h, rain)
    better = _if_better(cfg, h, rows, row_index, own, len(RAIN_WINDOWS_H), base)
    if better is None:
        return base
    fit, gain = better
    note = f"rain: held-out MSE {gain * 100:.0f} % below the regression without it"
    return replace(fit, rain=True, without_rain=base, note=note)


def _with_rain_ahead(
    cfg: StationForecastConfig,
    own: list[float],
    ups: list[list[float]],
    lags: tuple[UpstreamLag, ...],
    h: int,
    rain: list[float] | None,
    ahead: list[float],
    base: HorizonFit,
) -> HorizonFit:
    """``base``, or the same predictors plus the rain forecast over the horizon where that beat ``base``'s
    predictors on the same held-out hours (and beat persistence). A forecast that is often wrong earns a small
    coefficient, or none: the history judges the forecasts, not their issuer's reputation."""
    rows, row_index = _rows(own, ups, lags, h, rain, ahead)
    better = _if_better(cfg, h, rows, row_index, own, 1, base)
    if better is None:
        return base
    fit, gain = better
    note = f"rain forecast: held-out MSE {gain * 100:.0f} % below the fit without it"
    if base.note:
        note = f"{base.note}; {note}"
    return replace(fit, rain=rain is not None, rain_ahead=True, without_rain_ahead=base, note=note)


@dataclass(frozen=True)
class _HeldOut:
    coefficients: tuple[float, ...]  # fitted on all rows
    errors: list[tuple[float, float]]  # (activity, held-out error)
    sse_model: float
    sse_persist: float


def _rows(
    own: list[float],
    ups: list[list[float]],
    lags: tuple[UpstreamLag, ...],
    h: int,
    rain: list[float] | None,
    ahead: list[float] | None = None,
) -> tuple[list[tuple[list[float], float]], list[int]]:
    rows: list[tuple[list[float], float]] = []
    row_index: list[int] = []
    for i in range(len(own) - h):
        target = own[i + h] - own[i]
        if math.isnan(target):
            continue
        x = features(own, ups, lags, i, h, rain, ahead[i] if ahead is not None else None)
        if x is not None:
            rows.append((x, target))
            row_index.append(i)
    return rows, row_index


def _held_out(
    rows: list[tuple[list[float], float]], row_index: list[int], own: list[float], size: int, by_change: bool = False
) -> _HeldOut:
    """Three contiguous blocks: a flood sits in one of them, and is then forecast by a fit that never saw it.
    ValueError when the normal equations cannot be solved."""
    bounds = [len(rows) * k // FOLDS for k in range(FOLDS + 1)]
    grams = []
    for k in range(FOLDS):
        g = Gram(size)
        for x, y in rows[bounds[k] : bounds[k + 1]]:
            g.add(x, y)
        grams.append(g)
    total = grams[0].plus(grams[1]).plus(grams[2])
    errors, sse_model, sse_persist = [], 0.0, 0.0
    for k in range(FOLDS):
        coef = total.minus(grams[k]).solve(RIDGE, unpenalised=0)
        for j, (x, y) in enumerate(rows[bounds[k] : bounds[k + 1]]):
            pred = dot(coef, x)
            e = y - pred
            errors.append((abs(pred) if by_change else activity(own, row_index[bounds[k] + j]), e))
            sse_model += e * e
            sse_persist += y * y
    return _HeldOut(tuple(total.solve(RIDGE, unpenalised=0)), errors, sse_model, sse_persist)


def _judged(cfg: StationForecastConfig, h: int, held: _HeldOut, p_band: Bands, m: int) -> HorizonFit:
    """The regression if its held-out skill over persistence is above ``min_skill``, else persistence."""
    rmse, rmse_p = math.sqrt(held.sse_model / m), math.sqrt(held.sse_persist / m)
    skill = 1.0 - held.sse_model / held.sse_persist if held.sse_persist > 0 else None
    coefficients = held.coefficients
    if skill is None or skill <= cfg.min_skill:
        shown = "undefined (no change in history)" if skill is None else f"{skill:.3f}"
        note = f"persistence: regression's held-out skill {shown} not above {cfg.min_skill:g}"
        return HorizonFit(h, "persistence", coefficients, p_band, p_band, skill, rmse, rmse_p, note)
    return HorizonFit(h, "regression", coefficients, Bands.fit(held.errors), p_band, skill, rmse, rmse_p, "")


def _rain(
    recent: Mapping[str, HourlySeries], keys: tuple[str, ...], start: datetime, n: int, issued: datetime
) -> list[float] | None:
    """The basin rain on the forecast's grid (gaps are not bridged: an hour without a reading is not a dry one)."""
    if not keys:
        return None
    return basin_rain([on_grid(_until(recent.get(k), issued), start, n, max_fill_h=0) for k in keys])


def _until(series: HourlySeries | None, issued: datetime) -> HourlySeries | None:
    """``series`` without its values after ``issued``: a forecast never peeks at what came later."""
    if series is None:
        return None
    keep = hours_between(series.start, issued) + 1
    if keep >= len(series.values):
        return series
    return HourlySeries(series.start, series.values[: max(0, keep)])


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or math.isnan(x) else round(x, nd)
