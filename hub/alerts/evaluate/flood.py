"""Flood alarm levels at hydrological stations (QĐ 05/2020/QĐ-TTg): BĐ1-BĐ3 with hysteresis and rate of rise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.alerts.alarm import Condition
from hub.alerts.evaluate.base import Context, Evaluator, Observation, ms
from hub.alerts.rules.flood_levels import FloodStationTable, assess_flood
from hub.alerts.rules.risk_level import RiskTables, flood_risk_level
from hub.alerts.rules.severity import Severity

SEVERITY = {1: Severity.WARNING, 2: Severity.MAJOR, 3: Severity.CRITICAL}
RATE_WINDOW = timedelta(hours=3)


class FloodEvaluator(Evaluator):
    rule = "flood_level"

    def __init__(self, table: FloodStationTable, risk: RiskTables) -> None:
        self.by_sensor = {(s.node_id, s.sensor_id): s for s in table.stations if s.node_id and s.sensor_id}
        self.risk = risk

    def sensors(self) -> set[tuple[str, str]]:
        return set(self.by_sensor)

    def on_observation(self, obs: Observation, ctx: Context) -> None:
        station = self.by_sensor.get((obs.node_id, obs.sensor_id))
        if station is None:
            return
        key = f"flood:{station.station_id}"
        st = ctx.get(key, {"level": 0, "last_ms": 0, "samples": {}})
        t = ms(obs.ts)
        samples: dict[str, float] = {
            k: v for k, v in st["samples"].items() if int(k) > t - RATE_WINDOW / timedelta(milliseconds=1)
        }
        samples[str(t)] = obs.value
        if t < st["last_ms"]:
            # A late reading (a backlog replayed out of order) refines the rate but must not move the level back.
            ctx.put(key, {**st, "samples": samples})
            return
        series = sorted((datetime.fromtimestamp(int(k) / 1000, UTC), v) for k, v in samples.items())
        a = assess_flood(obs.value, station, previous_level=st["level"], samples=series, window=RATE_WINDOW)
        ctx.put(key, {"level": a.level, "last_ms": t, "samples": samples})
        area = ctx.area_of(obs.node_id)
        level_text = f"BĐ{a.level} ({station.thresholds[a.level - 1]:.2f} m)" if a.level else "below BĐ1"
        details = {
            "station": station.name,
            "river": station.river,
            "bd_m": list(station.thresholds),
            "source": station.source,
            "rate_m_per_h": a.rate_m_per_h,
            "next_level": a.next_level,
            "margin_m": a.margin_m,
            "hours_to_next_level": a.hours_to_next_level,
            "above_historical_peak": a.above_historical_peak,
        }
        ctx.emit(
            self.rule,
            station.station_id,
            area,
            Condition(
                active=a.level >= 1,
                severity=SEVERITY.get(a.level, Severity.INFO),
                level=a.level,
                value=obs.value,
                message=f"Sông {station.river} tại {station.name}: {obs.value:.2f} m, {level_text}",
                details=details,
            ),
            obs.ts,
        )
        # The alarm levels ride along so a dashboard draws the BĐ lines in force at each moment (overrides included).
        fields: dict[str, float | int | str | bool] = {
            "level": a.level,
            "stage_m": obs.value,
            "bd1_m": station.bd1_m,
            "bd2_m": station.bd2_m,
            "bd3_m": station.bd3_m,
        }
        for name in ("margin_m", "rate_m_per_h"):
            value = getattr(a, name)
            if value is not None:
                fields[name] = float(value)
        ctx.point("flood_level", {"station_id": station.station_id, "area": area or ""}, fields, obs.ts, obs.node_id)
        ctx.hazard(area, f"flood:{station.station_id}", flood_risk_level(obs.value, station, self.risk.flood))
