"""Replaying a case: fit on its first stretch, issue a forecast every hour of the rest through the public API
(``fit_station``, ``StationModel.forecast``, ``crossings``), and keep what the scores need."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bench._forecast_cases import Case
from hub.forecast.base import HOUR, MAX_HORIZON_H, HourlySeries
from hub.forecast.config import StationForecastConfig
from hub.forecast.crossing import crossings
from hub.forecast.skill import IssuedWarning, ObservedCrossing, observed_crossings
from hub.forecast.station import fit_station

RECENT_H = 72  # hours of recent levels handed to each forecast (the predictors reach back at most 48 + 6)


@dataclass
class Replay:
    case: Case
    model: dict[str, Any]
    # per horizon: (model, persistence, observed) levels, one triple per issued forecast
    triples: dict[int, list[tuple[float, float, float]]] = field(default_factory=dict)
    warnings: list[IssuedWarning] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)  # one per warning
    observed: list[ObservedCrossing] = field(default_factory=list)
    reached: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    first_issue: datetime | None = None
    last_time: datetime | None = None
    skipped: int = 0


def _series(case: Case, upto: int, back: int | None = None) -> dict[str, HourlySeries]:
    lo = 0 if back is None else max(0, upto - back)
    return {k: HourlySeries(case.start + lo * HOUR, tuple(v[lo:upto])) for k, v in case.series.items()}


def replay(case: Case, min_history_h: int = 240, rain_forecast: bool = True) -> Replay:
    qpf = case.rain_forecasts if rain_forecast else None
    cfg = StationForecastConfig(
        station_id=case.station_id,
        upstream=case.upstream,
        rain=case.rain,
        rain_forecast=case.station_id + "-basin" if qpf is not None else None,
        history_days=60,
        min_history_h=min_history_h,
    )
    baseline = cfg.model_copy(update={"method": "persistence"})
    history = _series(case, case.fit_h)
    model = fit_station(cfg, history, qpf)
    persistence = fit_station(baseline, history)
    own = case.series[case.station_id]
    n = len(own)
    out = Replay(case, model.describe(), {h: [] for h in range(1, MAX_HORIZON_H + 1)})
    keys = [(f"{name}", thr) for _, name, thr in case.thresholds]
    times = [case.start + i * HOUR for i in range(n)]
    obs_c, spans = observed_crossings(times, own, keys)
    first = case.fit_h + case.seam_h
    out.first_issue = case.start + first * HOUR
    out.last_time = times[-1]
    out.observed = [c for c in obs_c if c.at >= out.first_issue + timedelta(hours=6)]
    out.reached = spans
    for i in range(first, n):
        issued = case.start + i * HOUR
        recent = _series(case, i + 1, RECENT_H)
        try:
            fc = model.forecast(recent, issued, rain_forecasts=qpf)
            pf = persistence.forecast(recent, issued)
        except ValueError:
            out.skipped += 1  # no recent reading of the station: no forecast that hour, as in the hub
            continue
        for p, q in zip(fc.points, pf.points, strict=True):
            j = i + p.horizon_h
            if j < n:
                out.triples[p.horizon_h].append((p.level_m, q.level_m, own[j]))
        now = own[i]
        current = now if not math.isnan(now) else pf.points[0].level_m  # the model's own "now" when missing
        for c in crossings(fc, case.thresholds, current):
            out.warnings.append(IssuedWarning(c.name, issued, c.expected))
            out.confidences.append(c.confidence)
    return out
