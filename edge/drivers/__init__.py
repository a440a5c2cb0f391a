"""Sensor drivers. Importing this package registers every built-in driver; others are found by entry point."""

from edge.drivers import modbus_tcp  # noqa: F401 - registration side effect
from edge.drivers.base import DriverConfig, DriverError, Sample, SensorDriver
from edge.drivers.registry import DRIVERS, driver_class, driver_keys, register_driver

__all__ = [
    "DRIVERS",
    "DriverConfig",
    "DriverError",
    "Sample",
    "SensorDriver",
    "driver_class",
    "driver_keys",
    "register_driver",
]
