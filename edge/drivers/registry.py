"""Registry of sensor drivers, keyed by the ``type`` that node configs use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Union

from pydantic import Field

from edge.drivers.base import DriverConfig, SensorDriver

_DRIVERS: dict[str, tuple[type[DriverConfig], type[SensorDriver]]] = {}


def register_driver(key: str, config_cls: type[DriverConfig]) -> Callable[[type[SensorDriver]], type[SensorDriver]]:
    """Class decorator: ``@register_driver("modbus_tcp", ModbusTcpConfig)``."""

    def wrap(cls: type[SensorDriver]) -> type[SensorDriver]:
        if key in _DRIVERS:
            raise ValueError(f"sensor driver {key!r} registered twice")
        cls.KEY = key
        _DRIVERS[key] = (config_cls, cls)
        return cls

    return wrap


def driver_keys() -> list[str]:
    return sorted(_DRIVERS)


def driver_class(key: str) -> type[SensorDriver]:
    try:
        return _DRIVERS[key][1]
    except KeyError:
        raise KeyError(f"no sensor driver {key!r}; known: {', '.join(driver_keys())}") from None


def driver_config_union() -> Any:
    """The discriminated union of every registered driver's config, for the node config schema."""
    configs = tuple(cfg for cfg, _ in _DRIVERS.values())
    if len(configs) == 1:
        return configs[0]
    return Annotated[Union[configs], Field(discriminator="type")]  # noqa: UP007 - built at run time
