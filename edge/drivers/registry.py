"""Registry of sensor drivers, keyed by the ``type`` that node configs use.

The settings each driver takes are declared in the contract (wire.nodeconfig.drivers); this maps a ``type`` to the
code that reads the sensor. Drivers outside this package announce themselves under the ``iocgw.sensor_drivers``
entry point group (simulators' ``simulated``), so the edge never imports them by name.
"""

from __future__ import annotations

from collections.abc import Callable

from edge.drivers.base import DriverConfig, SensorDriver
from plumbing.plugins import Registry

DRIVERS: Registry[SensorDriver] = Registry("sensor driver", group="iocgw.sensor_drivers", docs="docs/drivers/")


def register_driver(key: str, config_cls: type[DriverConfig]) -> Callable[[type[SensorDriver]], type[SensorDriver]]:
    """Class decorator: ``@register_driver("modbus_tcp", ModbusTcpConfig)``."""
    return DRIVERS.register(key, config_cls)


def driver_keys() -> list[str]:
    return DRIVERS.names()


def driver_class(key: str) -> type[SensorDriver]:
    return DRIVERS.plugin(key)
