"""Quality-control settings: the checks per quantity (built-in defaults, a file's defaults) and per-station overrides.

Resolution for one sensor: the built-in defaults of its quantity (``BUILTIN_DEFAULTS``), then the file's
``defaults.<quantity>``, then the file's ``stations`` entry for its (node_id, sensor_id). Each level replaces whole
checks: a check it names replaces the one below (``null`` or ``enabled: false`` switches it off); a check it does
not name is inherited. Every number is in the quantity's canonical unit (wire/quantities.py). Why each default is
what it is: docs/quality.md.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.alerts.rules.freshness import DEFAULT_GRACE_FACTOR
from hub.alerts.rules.severity import Severity
from hub.quality.flags import Flag
from plumbing.configfile import Document, Loc, load_yaml_model
from wire.quantities import Quantity

_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CheckSettings(BaseModel):
    model_config = _STRICT

    enabled: bool = Field(True, description="false switches the check off")


class HardLimits(CheckSettings):
    """Values no working sensor can report (a wrong unit, a broken probe, a stuck ADC rail)."""

    min: float | None = Field(None, description="Lowest possible value")
    max: float | None = Field(None, description="Highest possible value")
    flag: Flag = Flag.BAD

    @model_validator(mode="after")
    def _ordered(self) -> HardLimits:
        _check_range(self.min, self.max)
        return self


class SoftLimits(CheckSettings):
    """Values that are possible but unusual enough for a person to look (beyond the record, a low battery)."""

    min: float | None = Field(None, description="Below this is doubtful")
    max: float | None = Field(None, description="Above this is doubtful")
    flag: Flag = Flag.SUSPECT

    @model_validator(mode="after")
    def _ordered(self) -> SoftLimits:
        _check_range(self.min, self.max)
        return self


def _check_range(low: float | None, high: float | None) -> None:
    if low is None and high is None:
        raise ValueError("give min, max or both (or enabled: false to switch the check off)")
    if low is not None and high is not None and not low < high:
        raise ValueError(f"min ({low:g}) must be below max ({high:g})")


class RateOfChange(CheckSettings):
    """Faster change than the quantity can physically make, per hour, against the last trusted reading."""

    max_rise_per_h: float | None = Field(None, gt=0, description="Largest rise per hour")
    max_fall_per_h: float | None = Field(None, gt=0, description="Largest fall per hour (magnitude)")
    allowance: float = Field(0.0, ge=0, description="Added to the allowed change: the sensor's noise or resolution")
    flag: Flag = Flag.SUSPECT

    @model_validator(mode="after")
    def _some_limit(self) -> RateOfChange:
        if self.max_rise_per_h is None and self.max_fall_per_h is None:
            raise ValueError("give max_rise_per_h, max_fall_per_h or both (or enabled: false)")
        return self


class Spike(CheckSettings):
    """A reading out of line with both neighbours, in the same direction, by more than ``threshold``."""

    threshold: float = Field(gt=0, description="Smallest departure from both neighbours that counts as a spike")
    flag: Flag = Flag.BAD


class FlatLine(CheckSettings):
    """The same reading for longer than a quantity that must move can hold still (a frozen sensor or logger)."""

    duration_s: float = Field(gt=0, description="Unchanged for at least this long")
    min_readings: int = Field(3, ge=2, description="... and over at least this many readings")
    tolerance: float = Field(0.0, ge=0, description="Readings within this of the run's first count as unchanged")
    normal_values: list[float] = Field(
        default_factory=list, description="Values the quantity may rest at (rain 0, humidity 100, calm wind 0)"
    )
    flag: Flag = Flag.SUSPECT


class Intensity(CheckSettings):
    """For increments (rainfall): depth per hour, over the reading's own span but at least ``min_span_s``."""

    max_per_h: float = Field(gt=0, description="Largest plausible depth per hour")
    min_span_s: float = Field(3600.0, gt=0, description="Shorter spans count as this long (bursts are real)")
    flag: Flag = Flag.SUSPECT


class GapCheck(CheckSettings):
    """No reading for longer than ``factor`` times the sensor's interval: a gap event (not a reading's flag)."""

    factor: float = Field(DEFAULT_GRACE_FACTOR, ge=1, description="Allowed silence, in sensor intervals")


class QuantityChecks(BaseModel):
    """The checks for one quantity (or one station's sensor). A check left out is inherited; null switches it off."""

    model_config = _STRICT

    hard_limits: HardLimits | None = None
    soft_limits: SoftLimits | None = None
    intensity: Intensity | None = None
    rate_of_change: RateOfChange | None = None
    spike: Spike | None = None
    flat_line: FlatLine | None = None
    gap: GapCheck | None = None

    @model_validator(mode="after")
    def _soft_inside_hard(self) -> QuantityChecks:
        hard, soft = self.hard_limits, self.soft_limits
        if hard is None or soft is None or not (hard.enabled and soft.enabled):
            return self
        if hard.min is not None and soft.min is not None and soft.min < hard.min:
            raise ValueError(f"soft_limits.min ({soft.min:g}) is below hard_limits.min ({hard.min:g})")
        if hard.max is not None and soft.max is not None and soft.max > hard.max:
            raise ValueError(f"soft_limits.max ({soft.max:g}) is above hard_limits.max ({hard.max:g})")
        return self

    def over(self, base: QuantityChecks) -> QuantityChecks:
        """``base`` with every check this one names (even as null) replaced by this one's."""
        merged = {name: getattr(base, name) for name in CHECK_FIELDS}
        merged.update({name: getattr(self, name) for name in self.model_fields_set & CHECK_FIELDS})
        return QuantityChecks.model_validate(merged)


CHECK_FIELDS = frozenset(QuantityChecks.model_fields)


class StationChecks(QuantityChecks):
    """One station's sensor: which one, then the checks it changes."""

    node_id: str = Field(min_length=1)
    sensor_id: str = Field(min_length=1)
    note: str | None = Field(None, description="Why this station differs (a record flood, a tidal reach ...)")


def _r(rise: float | None, fall: float | None, allowance: float = 0.0) -> RateOfChange:
    return RateOfChange(max_rise_per_h=rise, max_fall_per_h=fall, allowance=allowance)


_LEVEL_GAP = GapCheck()
# The reasons for each value are in docs/quality.md ("Defaults per quantity"); values marked there as unverified
# are engineering judgement to be checked against the province's own records before operational use.
BUILTIN_DEFAULTS: dict[Quantity, QuantityChecks] = {
    Quantity.WATER_LEVEL: QuantityChecks(
        hard_limits=HardLimits(min=-10.0, max=1000.0),
        rate_of_change=_r(2.0, 1.0, 0.02),
        spike=Spike(threshold=0.3),
        flat_line=FlatLine(duration_s=6 * 3600.0, min_readings=6),
        gap=_LEVEL_GAP,
    ),
    Quantity.RAINFALL: QuantityChecks(
        hard_limits=HardLimits(min=0.0, max=500.0),
        intensity=Intensity(max_per_h=200.0),
        gap=_LEVEL_GAP,
    ),
    Quantity.RESERVOIR_LEVEL: QuantityChecks(
        hard_limits=HardLimits(min=-10.0, max=1500.0),
        rate_of_change=_r(1.0, 0.5, 0.02),
        spike=Spike(threshold=0.2),
        flat_line=FlatLine(duration_s=48 * 3600.0, min_readings=12),
        gap=_LEVEL_GAP,
    ),
    Quantity.INFLOW: QuantityChecks(
        hard_limits=HardLimits(min=0.0, max=100_000.0),
        flat_line=FlatLine(duration_s=24 * 3600.0, min_readings=12),
        gap=_LEVEL_GAP,
    ),
    Quantity.OUTFLOW: QuantityChecks(hard_limits=HardLimits(min=0.0, max=100_000.0), gap=_LEVEL_GAP),
    Quantity.SEEPAGE: QuantityChecks(
        hard_limits=HardLimits(min=0.0, max=5000.0),
        spike=Spike(threshold=5.0),
        flat_line=FlatLine(duration_s=24 * 3600.0, min_readings=12),
        gap=_LEVEL_GAP,
    ),
    Quantity.DISPLACEMENT: QuantityChecks(
        hard_limits=HardLimits(min=-1000.0, max=1000.0), spike=Spike(threshold=5.0), gap=_LEVEL_GAP
    ),
    Quantity.PIEZOMETRIC_LEVEL: QuantityChecks(
        hard_limits=HardLimits(min=-10.0, max=1500.0), spike=Spike(threshold=0.5), gap=_LEVEL_GAP
    ),
    Quantity.TEMPERATURE: QuantityChecks(
        hard_limits=HardLimits(min=-10.0, max=50.0),
        soft_limits=SoftLimits(min=0.0, max=42.0),
        rate_of_change=_r(8.0, 15.0, 0.3),
        spike=Spike(threshold=3.0),
        flat_line=FlatLine(duration_s=3 * 3600.0, min_readings=6),
        gap=_LEVEL_GAP,
    ),
    Quantity.HUMIDITY: QuantityChecks(
        hard_limits=HardLimits(min=0.0, max=103.0),
        soft_limits=SoftLimits(min=5.0, max=100.0),
        rate_of_change=_r(40.0, 40.0, 3.0),
        spike=Spike(threshold=15.0),
        flat_line=FlatLine(duration_s=6 * 3600.0, min_readings=6, normal_values=[100.0]),
        gap=_LEVEL_GAP,
    ),
    Quantity.PRESSURE: QuantityChecks(
        hard_limits=HardLimits(min=500.0, max=1100.0),
        rate_of_change=_r(10.0, 10.0, 0.5),
        spike=Spike(threshold=3.0),
        flat_line=FlatLine(duration_s=6 * 3600.0, min_readings=6),
        gap=_LEVEL_GAP,
    ),
    Quantity.WIND_SPEED: QuantityChecks(
        hard_limits=HardLimits(min=0.0, max=90.0),
        flat_line=FlatLine(duration_s=12 * 3600.0, min_readings=12, normal_values=[0.0]),
        gap=_LEVEL_GAP,
    ),
    Quantity.PM25: QuantityChecks(
        hard_limits=HardLimits(min=0.0, max=1000.0),
        soft_limits=SoftLimits(max=500.0),
        spike=Spike(threshold=100.0, flag=Flag.SUSPECT),
        flat_line=FlatLine(duration_s=3 * 3600.0, min_readings=6),
        gap=_LEVEL_GAP,
    ),
    Quantity.PM10: QuantityChecks(
        hard_limits=HardLimits(min=0.0, max=2000.0),
        soft_limits=SoftLimits(max=600.0),
        spike=Spike(threshold=150.0, flag=Flag.SUSPECT),
        flat_line=FlatLine(duration_s=3 * 3600.0, min_readings=6),
        gap=_LEVEL_GAP,
    ),
    Quantity.BATTERY_VOLTAGE: QuantityChecks(
        hard_limits=HardLimits(min=0.0, max=30.0),
        soft_limits=SoftLimits(min=11.0, max=15.0),
        spike=Spike(threshold=1.0, flag=Flag.SUSPECT),
        gap=_LEVEL_GAP,
    ),
}


class CompletenessOverride(BaseModel):
    """One station (every sensor of ``node_id``) or one of its sensors, with its own completeness target."""

    model_config = _STRICT

    node_id: str = Field(min_length=1)
    sensor_id: str | None = Field(None, min_length=1, description="Unset: every sensor of the node")
    note: str | None = Field(None, description="Why this station differs (a known weak link, solar in the rains ...)")
    alarm: bool | None = Field(None, description="false: no data-quality alarm for it (completeness still stored)")
    min_ratio: float | None = Field(None, gt=0, le=1, description="Its own target, received / expected")
    severity: Severity | None = None


class CompletenessRule(BaseModel):
    """What one sensor is judged by (``CompletenessSettings.rule_for``)."""

    model_config = _STRICT

    alarm: bool
    min_ratio: float
    severity: Severity


class CompletenessSettings(BaseModel):
    """Completeness per sensor and local day (received / expected) and the data-quality alarm on it.

    The alarm is for the technicians (a failing modem, a flat battery, a full SD card), never a flood alarm: it
    touches no hazard and no disaster risk level. Before ``min_hours_into_day`` of the local day (UTC+7) have
    passed, today's few expected readings say too little (one late reading at 00:10 is 0 %), so the sensor is
    judged on yesterday's whole day instead.
    """

    model_config = _STRICT

    alarm: bool = Field(True, description="Raise data_quality alarms (completeness is stored either way)")
    min_ratio: float = Field(0.8, gt=0, le=1, description="A day under this share of expected readings alarms")
    min_hours_into_day: float = Field(
        6.0, ge=0, lt=24, description="Judge today only after this many hours of it; before, judge yesterday"
    )
    severity: Severity = Field(Severity.MINOR, description="Of the data_quality alarm")
    every_s: float = Field(600.0, ge=1, description="How often the hub counts readings (one query over the quantities)")
    stations: list[CompletenessOverride] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> CompletenessSettings:
        keys = [(s.node_id, s.sensor_id) for s in self.stations]
        twice = sorted({f"{n}/{s or '*'}" for n, s in keys if keys.count((n, s)) > 1})
        if twice:
            raise ValueError(f"listed more than once in completeness.stations: {', '.join(twice)}")
        return self

    @property
    def alarms_on(self) -> bool:
        """Whether any sensor can raise a data_quality alarm (on by default, or for one station)."""
        return self.alarm or any(s.alarm for s in self.stations)

    def rule_for(self, node_id: str, sensor_id: str) -> CompletenessRule:
        """The settings, then the node's entry, then the sensor's: each names only what it changes."""
        rule = {"alarm": self.alarm, "min_ratio": self.min_ratio, "severity": self.severity}
        node_wide = [s for s in self.stations if s.node_id == node_id and s.sensor_id is None]
        own = [s for s in self.stations if s.node_id == node_id and s.sensor_id == sensor_id]
        for entry in node_wide + own:
            rule.update({k: v for k in ("alarm", "min_ratio", "severity") if (v := getattr(entry, k)) is not None})
        return CompletenessRule.model_validate(rule)


class QualityConfig(BaseModel):
    """A quality-control file: ``defaults`` per quantity over the built-in ones, then per-station ``stations``;
    ``completeness`` for the daily completeness and its data-quality alarm."""

    model_config = _STRICT

    defaults: dict[Quantity, QuantityChecks] = Field(default_factory=dict)
    stations: list[StationChecks] = Field(default_factory=list)
    completeness: CompletenessSettings = Field(
        default_factory=CompletenessSettings, description="Received / expected per day and its data-quality alarm"
    )

    def checks_for(self, quantity: Quantity, node_id: str, sensor_id: str) -> QuantityChecks:
        """The checks one sensor runs (built-in, then the file's defaults, then its station entry)."""
        resolved = BUILTIN_DEFAULTS.get(quantity, QuantityChecks())
        default = self.defaults.get(quantity)
        if default is not None:
            resolved = default.over(resolved)
        for station in self.stations:
            if station.node_id == node_id and station.sensor_id == sensor_id:
                resolved = station.over(resolved)
        return resolved


def _unique_stations(doc: Document) -> list[tuple[Loc, str]]:
    entries = doc.data.get("stations")
    if not isinstance(entries, list):
        return []
    keys = [(e.get("node_id"), e.get("sensor_id")) if isinstance(e, dict) else None for e in entries]
    counts = Counter(k for k in keys if k is not None)
    problems: list[tuple[Loc, str]] = []
    for i, key in enumerate(keys):
        if key is not None and counts[key] > 1:
            problems.append((("stations", i, "sensor_id"), f"node {key[0]!r} sensor {key[1]!r} is listed twice"))
    return problems


def load_quality_config(path: Path | str) -> QualityConfig:
    """The file at ``path``; ConfigError naming the file, line and field of every problem."""
    return load_yaml_model(path, QualityConfig, checks=[_unique_stations])
