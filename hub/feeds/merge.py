"""The merged view ``unit_hazard``: per administrative unit, its current hazard level (from the alert engine's
measurements) next to its population, households, schools and health stations (from the indicator feeds)."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from hub.feeds.sink import InfluxSink
from hub.feeds.units import AdminUnits, Unit, UnitError
from hub.store.line_protocol import line

log = logging.getLogger(__name__)

MEASUREMENT = "unit_hazard"
PROFILE = ("population", "households", "schools", "health_stations")
# When two hazards reach the same level, the name shown is the first of these.
HAZARD_ORDER = ("flood", "dam", "rain", "fire")
# dam_safety alarms carry a severity, not a QĐ 18 risk level; this is the feeds' own reading of it (configurable).
DEFAULT_DAM_LEVELS = {"warning": 2, "major": 3, "critical": 4}


class HazardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lookback: str = Field("24h", pattern=r"^\d+[smhdw]$", description="only alert-engine points this recent count")
    fire_min_level: int = Field(2, ge=1, le=5, description="fire danger levels below this (I: unlikely) count as 0")
    dam_levels: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_DAM_LEVELS))


@dataclass
class AreaHazard:
    levels: dict[str, int]  # hazard -> level 0-5
    risk: int = 0  # the engine's combined QĐ 18/2021 level
    flood_alarm: int = 0  # BĐ level 0-3 of the area's worst station

    def merge(self, other: AreaHazard) -> None:
        for k, v in other.levels.items():
            self.levels[k] = max(self.levels.get(k, 0), v)
        self.risk = max(self.risk, other.risk)
        self.flood_alarm = max(self.flood_alarm, other.flood_alarm)

    @property
    def level(self) -> int:
        return max([self.risk, *self.levels.values()])

    @property
    def hazard(self) -> str:
        if self.level == 0:
            return "none"
        active = [h for h in HAZARD_ORDER if self.levels.get(h, 0) > 0]
        best = max(active, key=lambda h: (self.levels[h], -HAZARD_ORDER.index(h)), default=None)
        return best or "flood"


def _last_by(sink: InfluxSink, measurement: str, field: str, group: str, lookback: str) -> list[dict]:
    return sink.query(
        f'SELECT last("{field}") AS v FROM "{measurement}" WHERE time > now() - {lookback} GROUP BY "area", {group}'
    )


def read_hazards(sink: InfluxSink, settings: HazardSettings) -> dict[str, AreaHazard]:
    """Each area's latest levels, as the alert engine wrote them (see docs/alerts.md, "What it writes")."""
    areas: dict[str, AreaHazard] = defaultdict(lambda: AreaHazard({}))
    lb = settings.lookback
    for r in sink.query(f'SELECT last("level") AS v FROM "risk_level" WHERE time > now() - {lb} GROUP BY "area"'):
        areas[r["area"]].risk = max(areas[r["area"]].risk, int(r["v"] or 0))
    for r in _last_by(sink, "flood_level", "level", '"station_id"', lb):
        a = areas[r["area"]]
        a.flood_alarm = max(a.flood_alarm, int(r["v"] or 0))
    for r in _last_by(sink, "rain_accumulation", "level", '"gauge_id"', lb):
        a = areas[r["area"]]
        a.levels["rain"] = max(a.levels.get("rain", 0), int(r["v"] or 0))
    for r in _last_by(sink, "fire_danger", "level", '"area_id"', lb):
        level = int(r["v"] or 0)
        if level >= settings.fire_min_level:
            a = areas[r["area"]]
            a.levels["fire"] = max(a.levels.get("fire", 0), level)
    q = (
        f'SELECT last("active") AS v FROM "alarm" WHERE "rule" = \'dam_safety\' AND time > now() - {lb} '
        'GROUP BY "area", "subject", "severity"'
    )
    latest: dict[tuple[str, str], tuple[int, bool, str]] = {}
    for r in sink.query(q):
        key = (r["area"], r["subject"])
        if key not in latest or int(r["time"]) >= latest[key][0]:
            latest[key] = (int(r["time"]), bool(r["v"]), r.get("severity", ""))
    for (area, _), (_, active, severity) in latest.items():
        if active:
            a = areas[area]
            a.levels["dam"] = max(a.levels.get("dam", 0), settings.dam_levels.get(severity, 0))
    for a in areas.values():
        # The combined risk level is the flood's when a station of the area is at BĐ1 or above.
        if a.flood_alarm > 0:
            a.levels["flood"] = max(a.levels.get("flood", 0), a.risk, 1)
    areas.pop("", None)
    return dict(areas)


def read_profiles(sink: InfluxSink) -> dict[str, dict[str, float]]:
    """Latest population, households, schools, health stations per unit (any period type)."""
    names = " OR ".join(f"\"indicator\" = '{n}'" for n in PROFILE)
    out: dict[str, dict[str, float]] = defaultdict(dict)
    best: dict[tuple[str, str], int] = {}
    for r in sink.query(
        f'SELECT last("value") AS v FROM "admin_indicator" WHERE {names} GROUP BY "admin_code", "indicator"'
    ):
        key = (r["admin_code"], r["indicator"])
        if r.get("v") is not None and int(r["time"]) >= best.get(key, -1):
            best[key] = int(r["time"])
            out[r["admin_code"]][r["indicator"]] = float(r["v"])
    return dict(out)


def _current(units: AdminUnits, code: str) -> Unit | None:
    try:
        return units.resolve(code)
    except UnitError:
        return None


def build_lines(
    units: AdminUnits, hazards: dict[str, AreaHazard], profiles: dict[str, dict[str, float]], now_ms: int
) -> list[str]:
    by_unit: dict[str, AreaHazard] = defaultdict(lambda: AreaHazard({}))
    for area, hz in hazards.items():
        unit = _current(units, area)
        if unit is None:
            log.warning("alert area %r is not a known administrative unit: left out of %s", area, MEASUREMENT)
            continue
        by_unit[unit.code].merge(hz)
        if unit.code != unit.province_code:  # a commune at flood puts its province at flood too
            by_unit[unit.province_code].merge(hz)
    codes = set(units.current) | set(by_unit) | set(profiles)
    lines = []
    for code in sorted(codes):
        unit = units.current.get(code)
        if unit is None:
            continue
        hz = by_unit.get(code, AreaHazard({}))
        fields: dict[str, float | int | str | bool] = {
            "hazard_level": hz.level,
            "hazard": hz.hazard,
            "flood_alarm": hz.flood_alarm,
            "name": unit.name,
        }
        for name in PROFILE:
            if name in profiles.get(code, {}):
                fields[name] = profiles[code][name]
        if unit.lat is not None and unit.lon is not None:
            fields["lat"], fields["lon"] = unit.lat, unit.lon
        tags = {"admin_code": code, "province_code": unit.province_code, "level": unit.level.value}
        lines.append(line(MEASUREMENT, tags, fields, now_ms))
    return lines


def refresh(sink: InfluxSink, units: AdminUnits, settings: HazardSettings, now_ms: int | None = None) -> int:
    """Recompute and write the merged view; returns the number of units written."""
    lines = build_lines(units, read_hazards(sink, settings), read_profiles(sink), now_ms or int(time.time() * 1000))
    sink.write(lines)
    return len(lines)
