"""Simulated sensor driver: a signal model from ``simulators.sensors`` plus injected faults, on scenario time.

Registered in the edge's driver registry through its public API; the edge finds this module by the
``iocgw.sensor_drivers`` entry point (pyproject.toml) when a node file names ``type: simulated``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.drivers import DriverConfig, DriverError, Sample, SensorDriver, register_driver
from simulators.sensors.faults import FaultInjector
from simulators.sensors.models import model_class
from simulators.sensors.rng import stable_seed
from wire import Quality
from wire.nodeconfig import SensorConfig, SimulatedConfig
from wire.nodeconfig.simulated import validate_params


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
