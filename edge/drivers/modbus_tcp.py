"""Modbus TCP sensor driver (placeholder)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from edge.drivers.base import DriverConfig, DriverError, Sample, SensorDriver
from edge.drivers.registry import register_driver


class ModbusTcpConfig(DriverConfig):
    type: Literal["modbus_tcp"] = "modbus_tcp"
    host: str
    port: int = 502


@register_driver("modbus_tcp", ModbusTcpConfig)
class ModbusTcpDriver(SensorDriver):
    async def read(self, now: datetime) -> Sample:
        raise DriverError("not implemented")
