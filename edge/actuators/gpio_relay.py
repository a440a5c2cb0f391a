"""A relay on a GPIO line, written as a file.

On a node this is the line's sysfs ``value`` file, or a file a small helper mirrors to the gpiochip character
device (the kernel's newer interface needs an ioctl this package does not make). The tests write a temporary file:
no GPIO hardware is exercised here.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from edge.actuators.base import Actuator, ActuatorError, register_actuator
from wire.nodeconfig.actuators import GpioRelayConfig


def _write_level(path: Path, level: str) -> None:
    # A sysfs value file takes one write of the new level; O_TRUNC keeps a plain file at one character too.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, level.encode())
    finally:
        os.close(fd)


@register_actuator("gpio_relay", GpioRelayConfig)
class GpioRelayActuator(Actuator):
    config: GpioRelayConfig

    def _level(self, on: bool) -> str:
        return "1" if on != self.config.active_low else "0"

    async def _set(self, path: Path, on: bool) -> None:
        try:
            await asyncio.to_thread(_write_level, path, self._level(on))
        except OSError as exc:
            raise ActuatorError(f"gpio_relay {self.id}: cannot write {path}: {exc.strerror}") from None

    async def siren(self, on: bool, seconds: float | None = None) -> None:
        await self._set(self.config.path, on)

    async def test(self, on: bool, seconds: float | None = None) -> None:
        if self.config.test_path is None:
            await super().test(on, seconds)
            return
        await self._set(self.config.test_path, on)
