"""Simulated sensor driver: a signal model from ``simulators.sensors`` plus injected faults, on scenario time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator

from edge.drivers.base import DriverConfig, DriverError, Sample, SensorDriver
from edge.drivers.registry import register_driver
from simulators.sensors.faults import FaultInjector, FaultSpec
from simulators.sensors.models import known_model, model_class, validate_params
from simulators.sensors.rng import stable_seed
from wire import Quality

if TYPE_CHECKING:
    from edge.config import SensorConfig


class SimulatedConfig(DriverConfig):
    """Which model to run, with what parameters, seed and faults, and how scenario time maps to the clock."""

    type: Literal["simulated"] = "simulated"
    model: str = Field("constant", description="Signal model name (simulators.sensors.models.MODELS)")
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


@register_driver("simulated", SimulatedConfig)
class SimulatedDriver(SensorDriver):
    """Scenario time t = (now - start) * time_scale, so the agent's clock drives the simulation.

    A failed read (dropout fault) raises DriverError and does not advance the previous-read time, so an
    increment sensor (rain gauge) reports the rain it missed at its next successful read.
    """

    config: SimulatedConfig

    def __init__(self, config: DriverConfig, sensor: SensorConfig) -> None:
        super().__init__(config, sensor)
        cfg: SimulatedConfig = config  # type: ignore[assignment]
        self.model = model_class(cfg.model)(validate_params(cfg.model, cfg.params), cfg.seed)
        # Sensors of one node share the node's seed (so humidity matches temperature) but not fault draws.
        self.faults = FaultInjector(cfg.faults, stable_seed(cfg.seed, sensor.id, "faults"))
        self._start: datetime | None = cfg.start
        self._t_prev: float | None = None

    async def open(self) -> None:
        if self._start is None:
            self._start = datetime.now(UTC)

    def scenario_time(self, now: datetime) -> float:
        """Scenario seconds at ``now``; never negative (before t=0 the scenario has not begun)."""
        if self._start is None:
            self._start = now
        return max(0.0, (now - self._start).total_seconds() * self.config.time_scale)

    async def read(self, now: datetime) -> Sample:
        t = self.scenario_time(now)
        if self._t_prev is not None and t < self._t_prev:
            t = self._t_prev  # a clock step backwards must not un-rain a gauge
        outcome = self.faults.apply(t, self.model.sample(self._t_prev, t))
        if outcome.value is None:
            raise DriverError(f"simulated dropout at t={t:.0f} s")
        self._t_prev = t
        ts = now + timedelta(seconds=outcome.skew_s) if outcome.skew_s else None
        return Sample(outcome.value, Quality.GOOD, ts)
