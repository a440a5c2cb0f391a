"""Disaster risk levels 1-5 (QĐ 18/2021/QĐ-TTg): colours, flood risk by station zone, multi-hazard escalation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.alerts.rules.base import require_finite
from hub.alerts.rules.flood_levels import FloodStation
from plumbing.configfile import load_yaml_model

MAX_RISK = 5


@dataclass(frozen=True, slots=True)
class RiskColour:
    """The colour QĐ 18/2021 Điều 4 gives a risk level; the law names colours only, the hex values are ours."""

    level: int
    name_vi: str
    name_en: str
    meaning: str
    hex: str  # fill, e.g. a map area or a badge
    text_hex: str  # text drawn on that fill, chosen for contrast


RISK_COLOURS: tuple[RiskColour, ...] = (
    RiskColour(1, "xanh dương nhạt", "light blue", "low (rủi ro thấp)", "#87CEFA", "#000000"),
    RiskColour(2, "vàng nhạt", "light yellow", "medium (rủi ro trung bình)", "#FFF176", "#000000"),
    RiskColour(3, "da cam", "orange", "large (rủi ro lớn)", "#FF8C00", "#000000"),
    RiskColour(4, "đỏ", "red", "very large (rủi ro rất lớn)", "#E00000", "#FFFFFF"),
    RiskColour(5, "tím", "purple", "catastrophic (thảm họa)", "#800080", "#FFFFFF"),
)


def risk_colour(level: int) -> RiskColour:
    """The colour of risk level 1-5."""
    if not 1 <= level <= MAX_RISK:
        raise ValueError(f"risk level must be 1-{MAX_RISK}, not {level}")
    return RISK_COLOURS[level - 1]


class FloodRiskStep(BaseModel):
    """From this water level up (BĐ``bd`` + ``offset_m``), the flood risk is at least ``risk``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    bd: int = Field(ge=1, le=3, description="Which alarm level the step is measured from (1-3)")
    offset_m: float = Field(0.0, ge=0, description="Metres above that alarm level, e.g. 1.0 for 'BĐ3 + 1.0 m'")
    risk: int = Field(ge=1, le=MAX_RISK, description="Risk level from here up")


def _step(bd: int, risk: int, offset_m: float = 0.0) -> FloodRiskStep:
    return FloodRiskStep(bd=bd, offset_m=offset_m, risk=risk)


# QĐ 18/2021 Điều 45, one river basin, as published secondary sources quote it. Unverified (no official text
# at hand): zones 1-2 reaching 3 at BĐ3 + 1.0 m and zone 3 reaching 3 at BĐ3. Multi-basin cases are not modelled.
DEFAULT_FLOOD_ZONES: dict[int, tuple[FloodRiskStep, ...]] = {
    1: (_step(1, 1), _step(3, 2), _step(3, 3, 1.0)),
    2: (_step(1, 1), _step(2, 2), _step(3, 3, 1.0)),
    3: (_step(1, 1), _step(2, 2), _step(3, 3)),
    4: (_step(1, 2), _step(2, 3), _step(3, 4, 0.3)),
}


class FloodRiskTable(BaseModel):
    """Flood / inundation risk level (QĐ 18/2021/QĐ-TTg Điều 45) from a station's stage, BĐ levels and zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zones: dict[int, tuple[FloodRiskStep, ...]] = Field(
        default_factory=lambda: dict(DEFAULT_FLOOD_ZONES),
        description="Zone (khu vực 1-4) -> steps; the risk is the highest step the stage reaches. Partly unverified",
    )
    above_historical: int = Field(
        5, ge=1, le=MAX_RISK, description="Risk level when the stage exceeds the station's historical flood peak"
    )
    default_zone: int | None = Field(
        None, ge=1, le=4, description="Zone for stations whose zone is not set; unset: such stations get no level"
    )

    @model_validator(mode="after")
    def _zones(self) -> FloodRiskTable:
        bad = sorted(z for z in self.zones if not 1 <= z <= 4)
        if bad:
            raise ValueError(f"zones are 1-4, not {bad}")
        if self.default_zone is not None and self.default_zone not in self.zones:
            raise ValueError(f"default_zone {self.default_zone} has no steps in zones")
        return self


class RiskTables(BaseModel):
    """How hazard levels become risk levels. Heavy rain needs no entry: ``heavy_rain_level`` (RainBands) already
    gives the Điều 44 risk level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flood: FloodRiskTable = Field(default_factory=FloodRiskTable, description="Flood / inundation (Điều 45)")
    escalation: int = Field(
        1, ge=0, le=2, description="Levels added when two or more hazards coincide (Điều 4: 1, or 2 if serious harm)"
    )


def flood_risk_level(stage: float, station: FloodStation, table: FloodRiskTable) -> int | None:
    """0-5 for ``stage`` at ``station``; None when the station has no zone and the table no default zone.

    Above the historical flood peak the level is ``above_historical`` (5) whatever the zone.
    """
    require_finite(stage, "water level")
    if station.historical_peak_m is not None and stage > station.historical_peak_m:
        return table.above_historical
    zone = station.zone if station.zone is not None else table.default_zone
    steps = table.zones.get(zone) if zone is not None else None
    if steps is None:
        return None
    return max((s.risk for s in steps if stage >= station.thresholds[s.bd - 1] + s.offset_m), default=0)


def combine_hazards(levels: Mapping[str, int], escalation: int = 1) -> int:
    """The overall risk level of hazards occurring together (Điều 4): the highest level, raised by ``escalation``
    (1, or 2 where serious harm is likely) when two or more hazards are at level 1 or above, never above 5."""
    if not 0 <= escalation <= 2:
        raise ValueError(f"escalation must be 0, 1 or 2, not {escalation}")
    bad = {name: v for name, v in levels.items() if not 0 <= v <= MAX_RISK}
    if bad:
        raise ValueError(f"risk levels must be 0-{MAX_RISK}: {bad}")
    highest = max(levels.values(), default=0)
    active = sum(1 for v in levels.values() if v >= 1)
    return min(MAX_RISK, highest + escalation) if active >= 2 else highest


def load_risk_tables(path: Path | str) -> RiskTables:
    """A YAML file of risk tables (see ``hub/alerts/sample_rules/risk_levels.yaml``)."""
    return load_yaml_model(path, RiskTables)
