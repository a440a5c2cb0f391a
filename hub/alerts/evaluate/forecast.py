"""Forecast warnings: a river forecast to cross BĐ1-BĐ3 (QĐ 05/2020), or a reservoir one of its named levels
(NĐ 114/2018), within the forecast's horizon, while the measured level is still below that level.

Separate rules from the measured-level alarms (``flood_forecast``, ``reservoir_forecast`` beside ``flood_level``,
``dam_safety``): a warning of what may come is acknowledged, escalated and cleared on its own, and an officer sees
both. One alarm per station; it follows each new forecast (crossing time, confidence) and clears when the newest
forecast no longer reaches any level with enough confidence. A crossing below ``warn_confidence`` (the forecast
configuration's setting, the same one the forecast benchmark scores) neither raises nor keeps the warning: it is
listed in the details as possible. An official bulletin without a range has a zero-width band, so each crossing
its central forecast makes has confidence 1: the agency's forecast is taken at its word. The flood warning also
gives the area a QĐ 18/2021 risk level from the forecast peak (``flood_forecast:<station>``), the way bulletins
state risk levels on forecast levels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from hub.alerts.alarm import Condition
from hub.alerts.evaluate.base import Context, Evaluator
from hub.alerts.rules.base import LOCAL_TZ
from hub.alerts.rules.dam_safety import Reservoir, ReservoirBand, ReservoirTable
from hub.alerts.rules.flood_levels import FloodStation, FloodStationTable
from hub.alerts.rules.risk_level import RiskTables, flood_risk_level
from hub.alerts.rules.severity import Severity
from hub.forecast.base import HOUR, Crossing, Forecast, ForecastPoint
from hub.forecast.config import WARN_CONFIDENCE
from hub.forecast.crossing import crossings

# One step below the measured alarm of the same level (flood_level: warning, major, critical): a forecast is
# less certain than a reading, yet BĐ1 forecast must still reach the officers who act on warnings.
FLOOD_SEVERITY = {1: Severity.WARNING, 2: Severity.MINOR, 3: Severity.MAJOR}
BAND_INDEX = {band: i for i, band in enumerate(ReservoirBand)}  # the level number dam_safety alarms carry
LEVEL_NAMES = {
    ReservoirBand.DEAD_TO_PRE_FLOOD: "MNC",
    ReservoirBand.PRE_FLOOD_TO_NORMAL: "MN trước lũ",
    ReservoirBand.NORMAL_TO_DESIGN_FLOOD: "MNDBT",
    ReservoirBand.DESIGN_TO_CHECK_FLOOD: "MNLTK",
    ReservoirBand.ABOVE_CHECK_FLOOD: "MNLKT",
}
EXPIRY_KEY = "forecast:expiry"
EXPIRED = "Bản tin dự báo đã hết thời hạn, chưa có bản tin mới"
_LOWER = {
    Severity.CRITICAL: Severity.MAJOR,
    Severity.MAJOR: Severity.MINOR,
    Severity.MINOR: Severity.WARNING,
    Severity.WARNING: Severity.WARNING,
}


def _remember(ctx: Context, rule: str, subject: str, area: str | None, forecast: Forecast, active: bool) -> None:
    """Keep when an active warning's forecast runs out (state, so it survives a restart); forget a cleared one."""
    expiry: dict[str, dict[str, Any]] = ctx.get(EXPIRY_KEY, {})
    key = f"{rule}/{subject}"
    if active and forecast.points:
        until = int(forecast.points[-1].valid.timestamp() * 1000)
        entry = {"rule": rule, "subject": subject, "area": area, "until_ms": until}
        if expiry.get(key) == entry:
            return
        ctx.put(EXPIRY_KEY, {**expiry, key: entry})
    elif key in expiry:
        ctx.put(EXPIRY_KEY, {k: v for k, v in expiry.items() if k != key})


def flood_thresholds(station: FloodStation) -> list[tuple[int, str, float]]:
    return [(n, f"BĐ{n}", threshold) for n, threshold in enumerate(station.thresholds, start=1)]


def reservoir_thresholds(r: Reservoir) -> list[tuple[int, str, float]]:
    """The named levels whose band above is warning-worthy for this reservoir: rising past the dead or pre-flood
    level is no danger, past the normal, design or check flood level is (band severities, configurable)."""
    return [
        (BAND_INDEX[band], LEVEL_NAMES[band], level)
        for band, level in r.levels()
        if r.severity_of(band) >= Severity.WARNING
    ]


def measured_level(ctx: Context, key: str) -> float | None:
    """The newest level the measured-level rule has seen (its persisted state: ``flood:<id>``, ``dam:<id>:level``)."""
    st = ctx.get(key, None)
    if not isinstance(st, dict):
        return None
    value = st.get("samples", {}).get(str(st.get("last_ms")))
    return float(value) if value is not None else None


def _when(ts: datetime) -> str:
    return f"{ts.astimezone(LOCAL_TZ):%H:%M %d/%m}"


def _in_hours(ts: datetime, now: datetime) -> str:
    hours = max(0, round((ts - now) / HOUR))
    return f"khoảng {hours} giờ nữa" if hours else "sắp tới"


def _peak(forecast: Forecast) -> ForecastPoint | None:
    return max(forecast.points, key=lambda p: p.level_m, default=None)


def _crossing_details(c: Crossing) -> dict[str, Any]:
    return {
        "level": c.level,
        "name": c.name,
        "threshold_m": c.threshold_m,
        "expected": c.expected.isoformat(),
        "lead_h": round(c.lead_h, 2),
        "confidence": round(c.confidence, 3),
    }


def _above(
    forecast: Forecast, thresholds: Sequence[tuple[int, str, float]], current: float | None
) -> tuple[list[Crossing], float]:
    """Crossings of the levels still above the measured level, and that level (the forecast's first point when
    nothing has been measured yet, so a forecast never warns of a level the river already stands above)."""
    if not forecast.points:
        return [], current if current is not None else math.nan
    if current is None:
        current = forecast.points[0].level_m
    found = crossings(forecast, [t for t in thresholds if t[2] > current], current)
    return sorted((c for c in found if c.threshold_m > current), key=lambda c: c.level), current


class ForecastEvaluator(Evaluator):
    rule = "flood_forecast"
    reservoir_rule = "reservoir_forecast"

    def __init__(
        self,
        flood: FloodStationTable | None,
        reservoirs: ReservoirTable | None,
        risk: RiskTables,
        warn_confidence: float = WARN_CONFIDENCE,
    ) -> None:
        # Built from the engine's tables, so threshold overrides made through the API apply here too.
        self.warn_confidence = warn_confidence
        self.stations = flood.by_id() if flood is not None else {}
        self.by_sensor = {(s.node_id, s.sensor_id): s for s in self.stations.values() if s.node_id and s.sensor_id}
        self.reservoirs = {r.reservoir_id: r for r in reservoirs.reservoirs} if reservoirs is not None else {}
        self.risk = risk

    def sensors(self) -> set[tuple[str, str]]:
        return set(self.by_sensor)

    def on_tick(self, ctx: Context) -> None:
        """A warning whose forecast has run out (its last hour passed, no newer forecast since: the job failing, an
        official feed gone quiet) is cleared: the forecast says nothing about the hours after its horizon."""
        expiry: dict[str, dict[str, Any]] = ctx.get(EXPIRY_KEY, {})
        now = int(ctx.now.timestamp() * 1000)
        due = [k for k, v in expiry.items() if v["until_ms"] <= now]
        if not due:
            return
        for k in due:
            v = expiry[k]
            ctx.emit(
                v["rule"],
                v["subject"],
                v["area"],
                Condition(active=False, severity=Severity.INFO, level=0, message=EXPIRED, details={"expired": True}),
            )
            if v["rule"] == self.rule:
                ctx.hazard(v["area"], f"flood_forecast:{v['subject']}", 0)
        ctx.put(EXPIRY_KEY, {k: v for k, v in expiry.items() if k not in due})

    def on_forecast(self, forecast: Forecast, ctx: Context) -> None:
        # An official bulletin may be hours old: only what it says about the hours to come can warn.
        if not forecast.points:
            return
        forecast = replace(forecast, points=tuple(p for p in forecast.points if p.valid > ctx.now))
        station = self.stations.get(forecast.station_id)
        if station is not None:
            self._river(forecast, station, ctx)
            return
        reservoir = self.reservoirs.get(forecast.station_id)
        if reservoir is not None:
            self._reservoir(forecast, reservoir, ctx)

    def _river(self, forecast: Forecast, station: FloodStation, ctx: Context) -> None:
        found, current = _above(forecast, flood_thresholds(station), measured_level(ctx, f"flood:{station.station_id}"))
        found, possible = self._split(found)
        area = ctx.area_of(station.node_id) if station.node_id else None
        peak = _peak(forecast)
        top = found[-1] if found else None
        message = (
            f"Dự báo sông {station.river} tại {station.name} vượt {top.name} lúc {_when(top.expected)} "
            f"({_in_hours(top.expected, ctx.now)}), độ tin cậy {top.confidence * 100:.0f} %"
            if top
            else f"Dự báo sông {station.river} tại {station.name}: không vượt mức báo động trong thời hạn dự báo"
        )
        ctx.emit(
            self.rule,
            station.station_id,
            area,
            Condition(
                active=top is not None,
                severity=FLOOD_SEVERITY[top.level] if top else Severity.INFO,
                level=top.level if top else 0,
                value=round(peak.level_m, 3) if peak else None,
                message=message,
                details=self._details(forecast, found, possible, current, peak, list(station.thresholds)),
            ),
            forecast.issued,
        )
        _remember(ctx, self.rule, station.station_id, area, forecast, top is not None)
        # QĐ 18/2021 risk from the forecast peak; the engine counts it and the station's measured flood risk as one
        # hazard, the higher of the two (hub.alerts.engine.one_flood_per_station).
        risk = flood_risk_level(peak.level_m, station, self.risk.flood) if top and peak else 0
        ctx.hazard(area, f"flood_forecast:{station.station_id}", risk)

    def _reservoir(self, forecast: Forecast, r: Reservoir, ctx: Context) -> None:
        thresholds = reservoir_thresholds(r)
        found, current = _above(forecast, thresholds, measured_level(ctx, f"dam:{r.reservoir_id}:level"))
        found, possible = self._split(found)
        area = ctx.area_of(r.node_id) if r.node_id else None
        peak = _peak(forecast)
        top = found[-1] if found else None
        severity = Severity.INFO
        if top is not None:
            band = next(b for b, _ in r.levels() if BAND_INDEX[b] == top.level)
            severity = _LOWER.get(r.severity_of(band), Severity.WARNING)
        message = (
            f"Dự báo hồ {r.name} vượt {top.name} ({top.threshold_m:.2f} m) lúc {_when(top.expected)} "
            f"({_in_hours(top.expected, ctx.now)}), độ tin cậy {top.confidence * 100:.0f} %"
            if top
            else f"Dự báo hồ {r.name}: không vượt mực nước đặc trưng trong thời hạn dự báo"
        )
        ctx.emit(
            self.reservoir_rule,
            r.reservoir_id,
            area,
            Condition(
                active=top is not None,
                severity=severity,
                level=top.level if top else 0,
                value=round(peak.level_m, 3) if peak else None,
                message=message,
                details=self._details(forecast, found, possible, current, peak, [t[2] for t in thresholds]),
            ),
            forecast.issued,
        )
        _remember(ctx, self.reservoir_rule, r.reservoir_id, area, forecast, top is not None)

    def _split(self, found: list[Crossing]) -> tuple[list[Crossing], list[Crossing]]:
        """(crossings that warn, crossings only possible: below ``warn_confidence``)."""
        return (
            [c for c in found if c.confidence >= self.warn_confidence],
            [c for c in found if c.confidence < self.warn_confidence],
        )

    def _details(
        self,
        forecast: Forecast,
        found: list[Crossing],
        possible: list[Crossing],
        current: float,
        peak: ForecastPoint | None,
        levels_m: list[float],
    ) -> dict[str, Any]:
        return {
            "crossings": [_crossing_details(c) for c in found],
            "possible": [_crossing_details(c) for c in possible],
            "warn_confidence": self.warn_confidence,
            "source": forecast.source,
            "method": forecast.method,
            "issued": forecast.issued.isoformat(),
            "current_m": round(current, 3) if math.isfinite(current) else None,
            "peak_m": round(peak.level_m, 3) if peak else None,
            "peak_at": peak.valid.isoformat() if peak else None,
            "levels_m": levels_m,
        }
