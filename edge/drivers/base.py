"""The small interface every sensor driver implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from wire import Quality
from wire.nodeconfig.drivers_base import DriverConfig

if TYPE_CHECKING:
    from wire.nodeconfig import SensorConfig


@dataclass(frozen=True)
class Sample:
    """What one read returns. ``value`` is None when the sensor gave nothing usable this time."""

    value: float | None
    quality: Quality = Quality.GOOD
    ts: datetime | None = None  # when the driver knows the true sampling time better than the agent


class DriverError(Exception):
    """A read failed in a way the agent should count and report (the node keeps running)."""


class SensorDriver(ABC):
    """Reads one sensor.

    Lifecycle: ``open()`` once before the first read (may raise DriverError; the agent retries later),
    ``read(now)`` on every sampling tick, ``close()`` once at shutdown. Drivers never publish and never
    sleep past their own I/O timeout: the agent owns timing, batching and delivery.
    """

    KEY: ClassVar[str]

    def __init__(self, config: DriverConfig, sensor: SensorConfig) -> None:
        self.config = config
        self.sensor = sensor

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect to the device; default: nothing to do."""

    @abstractmethod
    async def read(self, now: datetime) -> Sample:
        """Take one sample; raise DriverError on a failed read."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device; default: nothing to do."""
