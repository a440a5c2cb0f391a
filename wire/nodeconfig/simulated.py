"""The ``simulated`` sensor driver's settings: which signal model, its parameters, and the faults to inject.

These are part of the node config language (testers write them in node files and scenarios, and the hub validates
node files), so they live in the contract. The signal models and the fault injector that act on them live in
``simulators.sensors``; a test checks that every model named here has an implementation there and vice versa.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from wire.nodeconfig.drivers_base import DriverConfig


class Burst(BaseModel):
    """One spell of rain: ``total_mm`` falling between ``start_s`` and ``start_s + duration_s``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    start_s: float = Field(ge=0, description="Scenario time the rain starts")
    duration_s: float = Field(gt=0, description="How long it rains")
    total_mm: float = Field(ge=0, description="Depth that falls over the whole burst")


class ModelParams(BaseModel):
    """Base of every model's parameters."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# -- simple signals -------------------------------------------------------------------------------------------
class ConstantParams(ModelParams):
    value: float = 0.0
    noise_sd: float = Field(0.0, ge=0)


# -- rain and rivers ------------------------------------------------------------------------------------------
class RainGaugeParams(ModelParams):
    bursts: list[Burst] = Field(default_factory=list)
    resolution_mm: float = Field(0.2, ge=0, le=10, description="Tipping-bucket size; 0 reports exact depths")
    jitter: float = Field(0.0, ge=0, le=0.9, description="Gauge-to-gauge spread of totals, as a fraction")
    shift_s: float = Field(0.0, ge=0, description="Gauge-to-gauge spread of timing, at most this much")


class RiverStageParams(ModelParams):
    base_m: float = Field(2.0, description="Stage before the storm (baseflow)")
    peak_m: float | None = Field(None, description="Stage at the flood peak; sets the gain")
    gain_m: float | None = Field(None, ge=0, description="Stage rise for 1 mm/h of runoff (if no peak_m)")
    bursts: list[Burst] = Field(default_factory=list, description="Basin-average rain")
    lag_s: float = Field(6 * 3600.0, ge=0, description="Travel time from the basin to the station")
    recession_s: float = Field(12 * 3600.0, gt=0, description="Linear-reservoir time constant")
    reservoirs: int = Field(2, ge=1, le=8, description="Nash cascade length: more = smoother, later peak")
    rating_exponent: float = Field(1.5, ge=1, le=3, description="b in Q ~ (h - h0)^b")
    noise_sd_m: float = Field(0.005, ge=0)

    @model_validator(mode="after")
    def _gain_or_peak(self) -> RiverStageParams:
        if self.peak_m is not None and self.gain_m is not None:
            raise ValueError("give peak_m or gain_m, not both")
        if self.peak_m is not None and self.peak_m <= self.base_m:
            raise ValueError("peak_m must be above base_m")
        return self


class ReservoirParams(BaseModel):
    """One reservoir and its basin; ``reservoir_level``, ``inflow``, ``outflow`` and ``seepage`` all take these.

    Give the four sensors of one reservoir the same params (a YAML anchor does it) and they report one
    consistent simulation.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    bed_level_m: float = Field(10.0, description="Level at which storage is zero")
    dead_level_m: float = Field(18.0, description="Mực nước chết: below it nothing is released")
    normal_level_m: float = Field(32.5, description="Mực nước dâng bình thường")
    normal_storage_mcm: float = Field(300.0, gt=0, description="Storage at the normal level, million m³")
    shape_exponent: float = Field(
        2.5, ge=1, le=4, description="Storage grows as (level - bed)^exponent: 2-3 for a V-shaped valley"
    )
    initial_level_m: float = Field(28.0, description="Level at scenario time 0")
    spill_crest_m: float | None = Field(None, description="Spillway crest; default: the normal level")
    spillway_coef: float = Field(
        300.0, ge=0, description="Weir coefficient times crest length (C·L), m^0.5/s: Q = C·L·head^1.5"
    )
    release_m3s: float = Field(40.0, ge=0, description="Turbine / irrigation release while above the dead level")
    base_inflow_m3s: float = Field(20.0, ge=0, description="Dry-weather inflow from the basin")
    basin_area_km2: float = Field(500.0, gt=0)
    runoff_coeff: float = Field(0.6, gt=0, le=1, description="Share of basin rain that becomes inflow")
    bursts: list[Burst] = Field(default_factory=list, description="Basin-average rain")
    lag_s: float = Field(3 * 3600.0, ge=0)
    recession_s: float = Field(6 * 3600.0, gt=0)
    reservoirs: int = Field(2, ge=1, le=8)
    step_s: float = Field(120.0, gt=0, le=3600, description="Integration step of the mass balance")
    seepage_base_lps: float = Field(2.0, ge=0, description="Seepage at the dead level")
    seepage_lps_per_m: float = Field(0.8, ge=0, description="Extra seepage per metre of head above the dead level")
    level_noise_m: float = Field(0.005, ge=0)
    flow_noise_frac: float = Field(0.02, ge=0, le=0.5)
    seepage_noise_lps: float = Field(0.05, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> ReservoirParams:
        if not self.bed_level_m < self.dead_level_m < self.normal_level_m:
            raise ValueError("need bed_level_m < dead_level_m < normal_level_m")
        if self.initial_level_m <= self.bed_level_m:
            raise ValueError("initial_level_m must be above bed_level_m")
        return self


# -- weather and air ------------------------------------------------------------------------------------------
class LocalTimeParams(ModelParams):
    start_local_hour: float = Field(0.0, ge=0, lt=24, description="Local time (UTC+7) at scenario t=0, hours")


class TemperatureParams(LocalTimeParams):
    mean_c: float = Field(28.0, description="Midpoint of the daily minimum and maximum")
    amplitude_c: float = Field(5.0, ge=0, description="Half the daily range")
    peak_hour: float = Field(14.0, gt=0, lt=24, description="Local hour of the daily maximum")
    min_hour: float = Field(5.5, ge=0, lt=24, description="Local hour of the daily minimum (near sunrise)")
    trend_c_per_day: float = Field(0.0, description="Warming (heat wave) or cooling over the scenario")
    day_variation_c: float = Field(0.5, ge=0, description="Day-to-day weather drift")
    spread_c: float = Field(0.5, ge=0, description="Station-to-station offset, drawn from the seed")
    noise_sd_c: float = Field(0.1, ge=0)

    @model_validator(mode="after")
    def _order(self) -> TemperatureParams:
        if not self.min_hour < self.peak_hour:
            raise ValueError("min_hour must come before peak_hour")
        return self


class HumidityParams(TemperatureParams):
    dewpoint_c: float = Field(22.0, description="Mean dew point: the air's moisture content")
    dewpoint_trend_c_per_day: float = Field(0.0, description="Drying (negative) or moistening over the scenario")
    noise_sd_pct: float = Field(1.0, ge=0)


class Pm25Params(LocalTimeParams):
    mean_ugm3: float = Field(45.0, ge=0, description="Daily mean concentration")
    diurnal_amplitude: float = Field(0.6, ge=0, le=2, description="Strength of the rush-hour / night peaks")
    morning_peak_hour: float = Field(8.0, ge=0, lt=24)
    evening_peak_hour: float = Field(21.0, ge=0, lt=24)
    episode_amplitude: float = Field(0.3, ge=0, le=0.9, description="Multi-day pollution episodes, as a fraction")
    spread_frac: float = Field(0.15, ge=0, le=0.9, description="Station-to-station difference of the mean")
    noise_frac: float = Field(0.08, ge=0, le=0.5)


class FaultBase(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    start_s: float = Field(0.0, ge=0, description="Scenario time the fault begins")
    duration_s: float | None = Field(None, gt=0, description="How long it lasts; none: to the end")

    def active(self, t_s: float) -> bool:
        return t_s >= self.start_s and (self.duration_s is None or t_s < self.start_s + self.duration_s)


class SpikeFault(FaultBase):
    """Occasional outliers: a read jumps by ``magnitude`` (EMI on a long cable, a bird on an ultrasonic gauge)."""

    kind: Literal["spike"] = "spike"
    magnitude: float = Field(description="Added to the value (in the quantity's unit)")
    probability: float = Field(0.05, gt=0, le=1, description="Chance that a read in the window spikes")
    direction: Literal["up", "down", "both"] = "up"


class StuckFault(FaultBase):
    """The sensor repeats its last reading for the window (a frozen ADC, a jammed float)."""

    kind: Literal["stuck"] = "stuck"


class DropoutFault(FaultBase):
    """Reads fail (the logger does not answer); the agent records a missed read."""

    kind: Literal["dropout"] = "dropout"
    probability: float = Field(1.0, gt=0, le=1, description="Chance that a read in the window fails")


class NoiseFault(FaultBase):
    """Extra white noise (a degraded sensor or a noisy power supply)."""

    kind: Literal["noise"] = "noise"
    sd: float = Field(gt=0, description="Standard deviation added, in the quantity's unit")


class ClockSkewFault(FaultBase):
    """The device clock is off: the sample's timestamp is the agent's ``now`` plus ``skew_s`` (wall seconds)."""

    kind: Literal["clock_skew"] = "clock_skew"
    skew_s: float = Field(description="Positive: the device clock runs ahead")


Fault = SpikeFault | StuckFault | DropoutFault | NoiseFault | ClockSkewFault


FaultSpec = Annotated[Fault, Field(discriminator="kind")]


FAULT_KINDS: dict[str, type[FaultBase]] = {
    cls.model_fields["kind"].default: cls for cls in (SpikeFault, StuckFault, DropoutFault, NoiseFault, ClockSkewFault)
}


# The signal models a simulated sensor can run, by name, with the parameters each takes. The four reservoir views
# share one set of parameters, so four sensors given the same params report one consistent simulation.
SIGNAL_MODEL_PARAMS: dict[str, type[ModelParams] | type[ReservoirParams]] = {
    "constant": ConstantParams,
    "rain_gauge": RainGaugeParams,
    "river_stage": RiverStageParams,
    "reservoir_level": ReservoirParams,
    "inflow": ReservoirParams,
    "outflow": ReservoirParams,
    "seepage": ReservoirParams,
    "temperature": TemperatureParams,
    "humidity": HumidityParams,
    "pm25": Pm25Params,
}


def known_model(name: str) -> str:
    """``name`` if it is a signal model; ValueError listing the known ones otherwise (for config validators)."""
    if name not in SIGNAL_MODEL_PARAMS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(SIGNAL_MODEL_PARAMS))}")
    return name


def validate_params(name: str, params: Mapping[str, Any]) -> BaseModel:
    """Validate ``params`` for model ``name``; ValueError names each bad field (``params.<field>: reason``)."""
    try:
        cls = SIGNAL_MODEL_PARAMS[name]
    except KeyError:
        raise KeyError(f"no signal model {name!r}; known: {', '.join(sorted(SIGNAL_MODEL_PARAMS))}") from None
    try:
        return cls.model_validate(params)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "params"
            parts.append(f"{where}: {err['msg']}")
        raise ValueError(f"bad params for model {name!r}: " + "; ".join(parts)) from None


class SimulatedConfig(DriverConfig):
    """Which model to run, with what parameters, seed and faults, and how scenario time maps to the clock."""

    type: Literal["simulated"] = "simulated"
    model: str = Field("constant", description="Signal model name (wire.nodeconfig.simulated.SIGNAL_MODEL_PARAMS)")
    params: dict[str, Any] = Field(default_factory=dict, description="The model's parameters")
    seed: int = Field(0, description="Same seed and params: same signal")
    time_scale: float = Field(1.0, gt=0, le=1e6, description="Scenario seconds per wall-clock second")
    start: AwareDatetime | None = Field(None, description="Wall-clock time of scenario t=0; default: when opened")
    faults: list[FaultSpec] = Field(default_factory=list)

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: str) -> str:
        return known_model(model)

    @field_validator("params")
    @classmethod
    def _valid_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        model = info.data.get("model")
        if model is not None:  # None: the model name already failed, which says enough
            validate_params(model, params)
        return params
