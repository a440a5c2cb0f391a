"""What every actuator shares: its interface, its error and the registry that maps a node file's ``type`` to it.

The settings each actuator takes are declared in the contract (wire.nodeconfig.actuators); this is the code that
drives the output. An actuator has two outputs that never mix: the public one (the siren, the loudspeaker's
announcement) and the test one (a muted relay, a quiet tone), so that a test can prove the chain end to end without
anybody in the street hearing it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from plumbing.plugins import Registry
from wire.nodeconfig.actuators import ActuatorConfig


class ActuatorError(Exception):
    """The actuator could not do what it was asked (the relay module did not answer, the player failed)."""


class Unsupported(ActuatorError):
    """This actuator cannot do that action at all (a relay asked to play a file, a test without a test output)."""


class Actuator(ABC):
    """Lifecycle: constructed with its config (no I/O), then ``siren``/``test``/``play`` any number of times, then
    ``close()``. Each call returns once the output is in the asked state; the caller owns the timers that end it."""

    KEY: ClassVar[str]

    def __init__(self, config: ActuatorConfig) -> None:
        self.config = config

    @property
    def id(self) -> str:
        return self.config.id

    @abstractmethod
    async def siren(self, on: bool, seconds: float | None = None) -> None:
        """Switch the public output; ``seconds`` is how long it will stay on (a player loops its sound that long)."""

    async def test(self, on: bool, seconds: float | None = None) -> None:
        """Switch the test output, never the public one."""
        raise Unsupported(f"{self.KEY} {self.id} has no test output configured")

    async def play(self, path: Path) -> bool:
        """Play a stored file; True while it still plays when this returns."""
        raise Unsupported(f"{self.KEY} {self.id} cannot play audio")

    def audio_path(self, name: str) -> Path:
        raise Unsupported(f"{self.KEY} {self.id} cannot play audio")

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and processes; the caller has switched the outputs off before."""


ACTUATORS: Registry[Actuator] = Registry("actuator", docs="docs/warnings-sirens.md#actuators")


def register_actuator(key: str, config_cls: type[ActuatorConfig]) -> Callable[[type[Actuator]], type[Actuator]]:
    """Class decorator: ``@register_actuator("modbus_coil", ModbusCoilConfig)``."""
    return ACTUATORS.register(key, config_cls)


def build_actuator(config: ActuatorConfig) -> Actuator:
    return ACTUATORS.plugin(config.type)(config)  # type: ignore[attr-defined]
