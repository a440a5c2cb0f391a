"""Registry of sensor drivers, keyed by the ``type`` that node configs use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge.drivers.base import DriverConfig, SensorDriver
from plumbing.plugins import Registry

DRIVERS: Registry[SensorDriver] = Registry("sensor driver")


def register_driver(key: str, config_cls: type[DriverConfig]) -> Callable[[type[SensorDriver]], type[SensorDriver]]:
    """Class decorator: ``@register_driver("modbus_tcp", ModbusTcpConfig)``."""
    return DRIVERS.register(key, config_cls)


def driver_keys() -> list[str]:
    return DRIVERS.names()


def driver_class(key: str) -> type[SensorDriver]:
    return DRIVERS.plugin(key)


def driver_config_union() -> Any:
    """The discriminated union of every registered driver's config, for the node config schema."""
    return DRIVERS.config_union()
