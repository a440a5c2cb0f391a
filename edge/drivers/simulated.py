"""Simulated sensor driver (placeholder until the simulator lands)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from edge.drivers.base import DriverConfig, Sample, SensorDriver
from edge.drivers.registry import register_driver


class SimulatedConfig(DriverConfig):
    type: Literal["simulated"] = "simulated"
    model: str = "constant"
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0


@register_driver("simulated", SimulatedConfig)
class SimulatedDriver(SensorDriver):
    async def read(self, now: datetime) -> Sample:
        return Sample(float(self.config.params.get("value", 0.0)))  # type: ignore[attr-defined]
