"""Reservoir and dam safety (NĐ 114/2018/NĐ-CP): level bands, rise, inflow balance, instruments, release warnings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.alerts.rules.base import Text, repeated, require_aware, require_finite
from hub.alerts.rules.levels import LevelM
from hub.alerts.rules.severity import Severity, SeverityThresholds, severity_for
from plumbing.configfile import load_yaml_model
from wire.messages import Identifier
from wire.quantities import CANONICAL_UNITS, Quantity


class ReservoirBand(StrEnum):
    """Where the water level stands among the reservoir's named levels; a level equal to a named level is in the
    band above it."""

    BELOW_DEAD = "below_dead"
    DEAD_TO_PRE_FLOOD = "dead_to_pre_flood"
    PRE_FLOOD_TO_NORMAL = "pre_flood_to_normal"
    NORMAL_TO_DESIGN_FLOOD = "normal_to_design_flood"
    DESIGN_TO_CHECK_FLOOD = "design_to_check_flood"
    ABOVE_CHECK_FLOOD = "above_check_flood"


DEFAULT_BAND_SEVERITY: dict[ReservoirBand, Severity] = {
    ReservoirBand.BELOW_DEAD: Severity.WARNING,  # nothing can be released for supply
    ReservoirBand.DEAD_TO_PRE_FLOOD: Severity.INFO,
    ReservoirBand.PRE_FLOOD_TO_NORMAL: Severity.INFO,  # a flood-season rule on the pre-flood level is the engine's
    ReservoirBand.NORMAL_TO_DESIGN_FLOOD: Severity.WARNING,  # flood storage in use, releases likely
    ReservoirBand.DESIGN_TO_CHECK_FLOOD: Severity.MAJOR,  # beyond the design flood
    ReservoirBand.ABOVE_CHECK_FLOOD: Severity.CRITICAL,  # beyond what the dam was checked for
}


class DamClass(StrEnum):
    """Dam classes of NĐ 114/2018 Điều 3 (by height and storage)."""

    ESPECIALLY_IMPORTANT = "especially_important"  # đập, hồ chứa nước quan trọng đặc biệt
    LARGE = "large"
    MEDIUM = "medium"
    SMALL = "small"


INSTRUMENT_QUANTITIES = (Quantity.SEEPAGE, Quantity.DISPLACEMENT, Quantity.PIEZOMETRIC_LEVEL)


class Instrument(BaseModel):
    """A structural monitoring instrument of the dam and its alarm thresholds, in the quantity's canonical unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instrument_id: Identifier = Field(description="Id of the instrument in alerts, e.g. 'seepage-left-abutment'")
    node_id: Identifier | None = Field(None, description="Node that reports it")
    sensor_id: Identifier | None = Field(None, description="Its sensor id on that node")
    quantity: Quantity = Field(description="seepage (l/s), displacement (mm) or piezometric_level (m)")
    thresholds: SeverityThresholds = Field(description="Values at which it alarms; displacement usually magnitude")

    @model_validator(mode="after")
    def _structural(self) -> Instrument:
        if self.quantity not in INSTRUMENT_QUANTITIES:
            allowed = ", ".join(q.value for q in INSTRUMENT_QUANTITIES)
            raise ValueError(f"quantity must be one of {allowed}, not {self.quantity.value}")
        return self

    @property
    def unit(self) -> str:
        return CANONICAL_UNITS[self.quantity]


class ReleasePlan(BaseModel):
    """What the reservoir's operating procedure (quy trình vận hành) says about warning before a spillway release."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warning_lead_time: timedelta = Field(
        gt=timedelta(0),
        description="How long before gates open the downstream warning must go out (ISO 8601 such as PT4H, or seconds)",
    )
    signal: str | None = Field(None, description="How the warning is given (siren, loudspeaker, SMS ...)")
    responsible: str | None = Field(None, description="Who must give it")
    procedure: Text = Field(description="The operating procedure that sets these, with its decision number")


class Reservoir(BaseModel):
    """One reservoir, its named levels (metres above datum, from its design and operating procedure) and alarms."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    reservoir_id: Identifier = Field(description="Stable id of the reservoir in alerts")
    name: Text
    province: Text
    node_id: Identifier | None = Field(None, description="Node that reports level, inflow and outflow")
    dam_class: DamClass | None = Field(None, description="NĐ 114/2018 Điều 3 class")
    source: Text = Field(description="Design or operating-procedure document the named levels come from")
    dead_level_m: LevelM = Field(description="Mực nước chết (dead level): nothing can be drawn below it")
    pre_flood_level_m: LevelM = Field(description="Mực nước trước lũ / đón lũ (pre-flood level) kept in flood season")
    normal_level_m: LevelM = Field(description="Mực nước dâng bình thường (normal water level)")
    design_flood_level_m: LevelM = Field(description="Mực nước lớn nhất thiết kế (design flood level)")
    check_flood_level_m: LevelM = Field(description="Mực nước lớn nhất kiểm tra (check flood level)")
    rise_rate_m_per_h: SeverityThresholds | None = Field(None, description="Alarms on the rate of rise, m/h")
    net_inflow_m3s: SeverityThresholds | None = Field(None, description="Alarms on inflow minus outflow, m³/s")
    instruments: list[Instrument] = Field(default_factory=list, description="Seepage, displacement, piezometers")
    release: ReleasePlan | None = Field(None, description="Spillway release warning rules; gated reservoirs")
    band_severity: dict[ReservoirBand, Severity] = Field(
        default_factory=dict, description="Overrides of DEFAULT_BAND_SEVERITY for this reservoir"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Reservoir:
        pairs = (
            ("dead_level_m", "pre_flood_level_m", False),
            ("pre_flood_level_m", "normal_level_m", True),  # may coincide: a reservoir with no flood cushion
            ("normal_level_m", "design_flood_level_m", False),
            ("design_flood_level_m", "check_flood_level_m", False),
        )
        for low, high, may_equal in pairs:
            a, b = getattr(self, low), getattr(self, high)
            if not (a <= b if may_equal else a < b):
                relation = "at or above" if may_equal else "above"
                raise ValueError(f"{high} ({b}) must be {relation} {low} ({a})")
        twice = repeated(x.instrument_id for x in self.instruments)
        if twice:
            raise ValueError(f"instrument_id used more than once: {', '.join(twice)}")
        return self

    def levels(self) -> tuple[tuple[ReservoirBand, float], ...]:
        """(band that starts here, level) for each named level, lowest first."""
        return (
            (ReservoirBand.DEAD_TO_PRE_FLOOD, self.dead_level_m),
            (ReservoirBand.PRE_FLOOD_TO_NORMAL, self.pre_flood_level_m),
            (ReservoirBand.NORMAL_TO_DESIGN_FLOOD, self.normal_level_m),
            (ReservoirBand.DESIGN_TO_CHECK_FLOOD, self.design_flood_level_m),
            (ReservoirBand.ABOVE_CHECK_FLOOD, self.check_flood_level_m),
        )

    def severity_of(self, band: ReservoirBand) -> Severity:
        return self.band_severity.get(band, DEFAULT_BAND_SEVERITY[band])


@dataclass(frozen=True, slots=True)
class ReservoirState:
    band: ReservoirBand
    severity: Severity


def reservoir_state(level: float, reservoir: Reservoir) -> ReservoirState:
    """The band ``level`` is in and its severity for this reservoir."""
    require_finite(level, "reservoir level")
    band = ReservoirBand.BELOW_DEAD
    for starts, threshold in reservoir.levels():
        if level >= threshold:
            band = starts
    return ReservoirState(band, reservoir.severity_of(band))


def rising_toward(level: float, rate_m_per_h: float, target_level: float) -> float | None:
    """Hours until ``target_level`` at the current rate; 0 when already there, None when not rising."""
    require_finite(level, "reservoir level")
    require_finite(rate_m_per_h, "rate of rise")
    if level >= target_level:
        return 0.0
    if not rate_m_per_h > 0:
        return None
    return (target_level - level) / rate_m_per_h


def inflow_exceeds_outflow(inflow_m3s: float, outflow_m3s: float, margin_m3s: float = 0.0) -> bool:
    """True when more enters than leaves by over ``margin_m3s`` (the reservoir is filling)."""
    require_finite(inflow_m3s, "inflow")
    require_finite(outflow_m3s, "outflow")
    return inflow_m3s - outflow_m3s > margin_m3s


def instrument_alarm(value: float, thresholds: SeverityThresholds) -> Severity | None:
    """Severity of one instrument's (or the rise-rate / net-inflow) reading; None below every threshold."""
    return severity_for(value, thresholds)


@dataclass(frozen=True, slots=True)
class ReleaseWarning:
    deadline: datetime  # planned opening minus the lead time: the warning must be out by then
    due: bool  # the deadline has come
    seconds_late: float  # now minus deadline: negative while there is still time


def release_warning_due(now: datetime, planned_open: datetime, lead_time: timedelta) -> ReleaseWarning:
    """Whether the downstream warning for a spillway opening planned at ``planned_open`` must be out by ``now``."""
    require_aware(now, "now")
    require_aware(planned_open, "planned_open")
    if lead_time <= timedelta(0):
        raise ValueError(f"lead_time must be positive, not {lead_time}")
    deadline = planned_open - lead_time
    late = (now - deadline).total_seconds()
    return ReleaseWarning(deadline=deadline, due=late >= 0, seconds_late=late)


class ReservoirTable(BaseModel):
    """The reservoirs the hub watches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reservoirs: list[Reservoir] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> ReservoirTable:
        twice = repeated(r.reservoir_id for r in self.reservoirs)
        if twice:
            raise ValueError(f"reservoir_id used more than once: {', '.join(twice)}")
        return self


def load_reservoirs(path: Path | str) -> ReservoirTable:
    """A YAML table of reservoirs (see ``hub/alerts/sample_rules/reservoirs.yaml``)."""
    return load_yaml_model(path, ReservoirTable)
