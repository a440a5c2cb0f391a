"""Sensor drivers. Importing this package registers every built-in driver."""

from edge.drivers import modbus_tcp, simulated  # noqa: F401 - registration side effect
from edge.drivers.base import DriverConfig, DriverError, Sample, SensorDriver
from edge.drivers.registry import driver_class, driver_config_union, driver_keys, register_driver

__all__ = [
    "DriverConfig",
    "DriverError",
    "Sample",
    "SensorDriver",
    "driver_class",
    "driver_config_union",
    "driver_keys",
    "register_driver",
]
