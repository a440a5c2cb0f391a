"""Deterministic signal models: what a simulated sensor reads at scenario time t.

Every model is built from ``(params, seed)`` and answers ``sample(t_prev_s, t_s)``; the answer depends only on
those (never on how often or in what order it was asked), so a scenario replays identically.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, ClassVar

from pydantic import BaseModel

from plumbing.plugins import Registry
from simulators.sensors.hydrology import Hyetograph, Routing
from simulators.sensors.reservoir import ReservoirSimulation
from simulators.sensors.rng import gauss, stable_seed, time_index, uniform
from wire.nodeconfig.simulated import (
    ConstantParams,
    HumidityParams,
    LocalTimeParams,
    Pm25Params,
    RainGaugeParams,
    ReservoirParams,
    RiverStageParams,
    TemperatureParams,
    validate_params,
)
from wire.quantities import Quantity

DAY_S = 86_400.0


class SignalModel(ABC):
    """A signal over scenario time. Subclasses set ``Params`` and the ``QUANTITY`` they usually measure."""

    NAME: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    QUANTITY: ClassVar[Quantity | None] = None

    def __init__(self, params: Mapping[str, Any] | BaseModel, seed: int) -> None:
        self.params: Any = params if isinstance(params, self.Params) else self.Params.model_validate(params)
        self.seed = seed
        # Salted with the model name so two models on one node (sharing the node's seed) get unrelated noise.
        self._noise_key = stable_seed(seed, self.NAME, "noise")

    def noise(self, t_s: float, sd: float) -> float:
        return sd * gauss(self._noise_key, time_index(t_s)) if sd else 0.0

    @abstractmethod
    def sample(self, t_prev_s: float | None, t_s: float) -> float:
        """The reading at ``t_s``; ``t_prev_s`` is the previous reading's time (None on the first)."""


# Model name -> (its parameters class, declared in the contract: wire.nodeconfig.simulated.SIGNAL_MODEL_PARAMS;
# the model). The convention test (tests/test_plugins.py) checks that the two lists hold the same names and classes.
SIGNAL_MODELS: Registry[SignalModel] = Registry("signal model", docs="docs/simulator.md#signal-models")


def register_model(name: str) -> Callable[[type[SignalModel]], type[SignalModel]]:
    """Class decorator: registers the model in ``SIGNAL_MODELS`` with its ``Params`` and sets ``NAME`` (= ``KEY``)."""

    def wrap(cls: type[SignalModel]) -> type[SignalModel]:
        SIGNAL_MODELS.register(name, cls.Params)(cls)
        cls.NAME = name
        return cls

    return wrap


def model_class(name: str) -> type[SignalModel]:
    return SIGNAL_MODELS.plugin(name)


def create_model(name: str, params: Mapping[str, Any], seed: int) -> SignalModel:
    return model_class(name)(validate_params(name, params), seed)


@register_model("constant")
class Constant(SignalModel):
    """A fixed value plus optional white noise: battery voltage, a calibration check, a placeholder."""

    Params = ConstantParams

    def sample(self, t_prev_s: float | None, t_s: float) -> float:
        return self.params.value + self.noise(t_s, self.params.noise_sd)


@register_model("rain_gauge")
class RainGauge(SignalModel):
    """Depth fallen since the previous reading (the wire's rainfall increment).

    The gauge reads a cumulative depth P(t) (a tipping-bucket counter) and reports P(t) - P(t_prev). Because P is
    integrated exactly from a stepped hyetograph, increments over any split of a window add up to the same total,
    and a missed read does not lose rain: the next increment carries it, as a counter-based logger does.
    """

    Params = RainGaugeParams
    QUANTITY = Quantity.RAINFALL

    def __init__(self, params: Mapping[str, Any] | BaseModel, seed: int) -> None:
        super().__init__(params, seed)
        p = self.params
        site = stable_seed(seed, "rain-gauge-site")
        scale = 1.0 + p.jitter * (2.0 * uniform(site, 0) - 1.0)
        shift = p.shift_s * (2.0 * uniform(site, 1) - 1.0)
        self.rain = Hyetograph.from_bursts(p.bursts, scale=scale, shift_s=shift)

    def tips(self, t_s: float) -> int:
        """The tipping bucket's counter at ``t_s``."""
        # The tiny epsilon keeps a depth of exactly k tips from reading as k-1 after float rounding.
        return math.floor(self.rain.depth(t_s) / self.params.resolution_mm + 1e-9)

    def sample(self, t_prev_s: float | None, t_s: float) -> float:
        if t_prev_s is None or t_s <= t_prev_s:
            return 0.0
        res = self.params.resolution_mm
        if not res:
            return max(0.0, self.rain.depth(t_s) - self.rain.depth(t_prev_s))
        # Whole tips times the bucket size, rounded so 3 tips of 0.2 mm read 0.6, not 0.6000000000000001.
        return round((self.tips(t_s) - self.tips(t_prev_s)) * res, 9)


@lru_cache(maxsize=256)
def _peak_runoff(routing: Routing, rain: Hyetograph) -> float:
    """Largest runoff rate (mm/s) of the whole event, found by a coarse scan then a fine one around the best."""
    if not rain.blocks:
        return 0.0
    lo, hi = rain.blocks[0][0] + routing.lag_s, routing.settle_s(rain)
    n = 1500
    step = (hi - lo) / n
    best_t = max((lo + i * step for i in range(n + 1)), key=lambda t: routing.runoff_rate(rain, t))
    fine = [best_t + step * (i / 50.0 - 1.0) for i in range(101)]
    return max(routing.runoff_rate(rain, t) for t in fine)


@register_model("river_stage")
class RiverStage(SignalModel):
    """Water level at a river station: baseflow plus the flood wave of the basin's rain.

    Rain is routed through a Nash cascade (delay, then linear reservoirs), which gives the lagged rise and the
    exponential-looking recession of real hydrographs. Stage follows discharge through a rating curve
    Q ~ (h - h0)^b, so stage rises fast at first and then more slowly as the river spreads over its banks.
    ``peak_m`` calibrates the gain so that the largest response of the configured bursts reaches exactly that
    stage, which lets a scenario put a station through BĐ1 -> BĐ3 and back with known thresholds.
    """

    Params = RiverStageParams
    QUANTITY = Quantity.WATER_LEVEL

    def __init__(self, params: Mapping[str, Any] | BaseModel, seed: int) -> None:
        super().__init__(params, seed)
        p = self.params
        self.rain = Hyetograph.from_bursts(p.bursts)
        self.routing = Routing(p.lag_s, p.recession_s, p.reservoirs)
        if p.peak_m is not None:
            peak = _peak_runoff(self.routing, self.rain) * 3600.0
            self.gain = (p.peak_m - p.base_m) / peak ** (1.0 / p.rating_exponent) if peak > 0 else 0.0
        else:
            self.gain = p.gain_m if p.gain_m is not None else 1.0

    def clean(self, t_s: float) -> float:
        """Stage without sensor noise."""
        q_mm_h = self.routing.runoff_rate(self.rain, t_s) * 3600.0
        return self.params.base_m + self.gain * q_mm_h ** (1.0 / self.params.rating_exponent)

    def sample(self, t_prev_s: float | None, t_s: float) -> float:
        return self.clean(t_s) + self.noise(t_s, self.params.noise_sd_m)


# -- reservoirs -----------------------------------------------------------------------------------------------
class _ReservoirView(SignalModel):
    """One quantity of a reservoir's mass balance; four sensors with the same params agree with each other."""

    Params = ReservoirParams  # shared by the four views; lives in reservoir.py with the simulation

    def __init__(self, params: Mapping[str, Any] | BaseModel, seed: int) -> None:
        super().__init__(params, seed)
        self.sim = ReservoirSimulation(self.params)

    def _flow_noise(self, t_s: float) -> float:
        return 1.0 + self.noise(t_s, self.params.flow_noise_frac)


@register_model("reservoir_level")
class ReservoirLevel(_ReservoirView):
    """Upstream water level, from storage through the level-storage curve."""

    QUANTITY = Quantity.RESERVOIR_LEVEL

    def sample(self, t_prev_s: float | None, t_s: float) -> float:
        return self.sim.level_at(t_s) + self.noise(t_s, self.params.level_noise_m)


@register_model("inflow")
class Inflow(_ReservoirView):
    """Inflow to the reservoir: base flow plus the basin's routed storm runoff."""

    QUANTITY = Quantity.INFLOW

    def sample(self, t_prev_s: float | None, t_s: float) -> float:
        return max(0.0, self.sim.inflow(t_s) * self._flow_noise(t_s))


@register_model("outflow")
class Outflow(_ReservoirView):
    """Total release: turbines / intake plus the spillway once the level tops the crest."""

    QUANTITY = Quantity.OUTFLOW

    def sample(self, t_prev_s: float | None, t_s: float) -> float:
        return max(0.0, self.sim.outflow_at_level(self.sim.level_at(t_s)) * self._flow_noise(t_s))


@register_model("seepage")
class Seepage(_ReservoirView):
    """Seepage through the dam body (l/s), growing with the head on the dam."""

    QUANTITY = Quantity.SEEPAGE

    def sample(self, t_prev_s: float | None, t_s: float) -> float:
        level = self.sim.level_at(t_s)
        return max(0.0, self.sim.seepage_lps(level) + self.noise(t_s, self.params.seepage_noise_lps))


def _local_hour(p: LocalTimeParams, t_s: float) -> float:
    return (p.start_local_hour + t_s / 3600.0) % 24.0


def _days(t_s: float) -> float:
    return t_s / DAY_S


def _slow_wave(key: int, t_s: float, amplitude: float) -> float:
    """Weather-like drift over days: two incommensurate sines with seeded phases (no step changes)."""
    if not amplitude:
        return 0.0
    a = math.sin(2 * math.pi * (_days(t_s) / 3.7 + uniform(key, 0)))
    b = math.sin(2 * math.pi * (_days(t_s) / 6.3 + uniform(key, 1)))
    return amplitude * (a + b) / math.sqrt(2.0)


def diurnal_shape(hour: float, min_hour: float, peak_hour: float) -> float:
    """-1 at the minimum, +1 at the peak; half-cosines rising over the morning and falling over the evening
    and night, because air warms quickly after sunrise and cools slowly until the next dawn."""
    if min_hour <= hour < peak_hour:
        return -math.cos(math.pi * (hour - min_hour) / (peak_hour - min_hour))
    fall = 24.0 - (peak_hour - min_hour)
    return math.cos(math.pi * ((hour - peak_hour) % 24.0) / fall)


class _AirTemperature:
    """Noise-free air temperature of one station; shared by the temperature and humidity models."""

    def __init__(self, p: TemperatureParams, seed: int) -> None:
        self.p = p
        site = stable_seed(seed, "air-temperature")
        self.offset = p.spread_c * (2.0 * uniform(site, 0) - 1.0)
        self.wave_key = stable_seed(seed, "air-temperature-wave")

    def __call__(self, t_s: float) -> float:
        p = self.p
        shape = diurnal_shape(_local_hour(p, t_s), p.min_hour, p.peak_hour)
        return (
            p.mean_c
            + self.offset
            + p.amplitude_c * shape
            + p.trend_c_per_day * _days(t_s)
            + _slow_wave(self.wave_key, t_s, p.day_variation_c)
        )


@register_model("temperature")
class Temperature(SignalModel):
    """Air temperature with a diurnal cycle peaking in the early afternoon local time (UTC+7)."""

    Params = TemperatureParams
    QUANTITY = Quantity.TEMPERATURE

    def __init__(self, params: Mapping[str, Any] | BaseModel, seed: int) -> None:
        super().__init__(params, seed)
        self.air = _AirTemperature(self.params, seed)

    def sample(self, t_prev_s: float | None, t_s: float) -> float:
        return self.air(t_s) + self.noise(t_s, self.params.noise_sd_c)


def _magnus_ln_es(temp_c: float) -> float:
    """ln of saturation vapour pressure over water (Magnus, Alduchov-Eskridge constants) minus ln 6.1094 hPa."""
    return 17.625 * temp_c / (243.04 + temp_c)


@register_model("humidity")
class Humidity(SignalModel):
    """Relative humidity from a slowly varying dew point and the station's own temperature cycle.

    The air's moisture changes little over a day while its capacity (saturation vapour pressure) rises with
    temperature, so RH = e(Td)/e(T) falls in the afternoon and peaks before dawn: anti-correlated with
    temperature for a physical reason. Give it the temperature sensor's params (and the node's seed) to match.
    """

    Params = HumidityParams
    QUANTITY = Quantity.HUMIDITY

    def __init__(self, params: Mapping[str, Any] | BaseModel, seed: int) -> None:
        super().__init__(params, seed)
        self.air = _AirTemperature(self.params, seed)
        self.wave_key = stable_seed(seed, "dewpoint-wave")

    def sample(self, t_prev_s: float | None, t_s: float) -> float:
        p = self.params
        temp = self.air(t_s)
        dew = p.dewpoint_c + p.dewpoint_trend_c_per_day * _days(t_s) + _slow_wave(self.wave_key, t_s, 0.5)
        dew = min(dew, temp)  # air cannot hold more than saturation
        rh = 100.0 * math.exp(_magnus_ln_es(dew) - _magnus_ln_es(temp))
        return min(100.0, max(0.0, rh + self.noise(t_s, p.noise_sd_pct)))


def _bump(hour: float, centre: float, width_h: float) -> float:
    d = (hour - centre + 12.0) % 24.0 - 12.0  # distance on the 24 h circle
    return math.exp(-0.5 * (d / width_h) ** 2)


# Daily means of the two bumps below, so the diurnal factor averages 1 and mean_ugm3 stays the daily mean.
_BUMP_MEAN = (0.6 * 1.5 + 1.0 * 3.0) * math.sqrt(2 * math.pi) / 24.0


@register_model("pm25")
class Pm25(SignalModel):
    """Fine particulate matter: a morning traffic peak, a larger night peak when the boundary layer is shallow
    and traps emissions, an afternoon low when convection mixes the air, and multi-day episodes. Noise is
    multiplicative because concentration errors scale with the concentration."""

    Params = Pm25Params
    QUANTITY = Quantity.PM25

    def __init__(self, params: Mapping[str, Any] | BaseModel, seed: int) -> None:
        super().__init__(params, seed)
        site = stable_seed(seed, "pm25-site")
        self.mean = self.params.mean_ugm3 * (1.0 + self.params.spread_frac * (2.0 * uniform(site, 0) - 1.0))
        self.wave_key = stable_seed(seed, "pm25-wave")

    def sample(self, t_prev_s: float | None, t_s: float) -> float:
        p = self.params
        hour = _local_hour(p, t_s)
        peaks = 0.6 * _bump(hour, p.morning_peak_hour, 1.5) + _bump(hour, p.evening_peak_hour, 3.0)
        diurnal = max(0.05, 1.0 + p.diurnal_amplitude * (peaks - _BUMP_MEAN))
        episode = 1.0 + _slow_wave(self.wave_key, t_s, p.episode_amplitude / math.sqrt(2.0))
        value = self.mean * diurnal * max(0.1, episode) * (1.0 + self.noise(t_s, p.noise_frac))
        return max(0.0, value)
