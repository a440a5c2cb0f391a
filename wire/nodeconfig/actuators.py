"""Actuator settings (sirens, relays, loudspeakers), one class per actuator ``type``, and the union a node file's
``actuation.actuators`` entries are checked against (the section itself is ``ActuationSettings`` in node.py).

As with sensor drivers, the settings live in the contract (the hub validates node files and pushes them as remote
config) and the code that drives each actuator is registered in the edge's actuator registry (``edge.actuators``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plumbing.plugins import tagged_union
from wire.actuate import MAX_TEST_S, AudioName
from wire.messages import Identifier


class ActuatorConfig(BaseModel):
    """Base of every actuator's settings; subclasses add ``type: Literal["<key>"]`` and their fields."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: Identifier = Field(description="The id commands name (ActuateCommand.actuator)")
    test_s: float = Field(3.0, gt=0, le=MAX_TEST_S, description="How long a test lasts when the command gives none")


class ModbusCoilConfig(ActuatorConfig):
    """A relay module on Modbus TCP: the public siren on one coil, and optionally a muted test output on another."""

    type: Literal["modbus_coil"] = "modbus_coil"
    host: str = Field(min_length=1, description="Relay module IP address or host name")
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=255, description="Modbus unit (device/slave) id")
    coil: int = Field(ge=0, le=65535, description="Zero-based coil address of the public siren's relay")
    test_coil: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Coil of the test output (a relay wired to a lamp or a muted sounder); without it the actuator "
        "refuses test commands",
    )
    timeout_s: float = Field(3.0, gt=0, le=60, description="Limit on each connect and each write")

    @model_validator(mode="after")
    def _distinct(self) -> ModbusCoilConfig:
        if self.test_coil == self.coil:
            raise ValueError("test_coil must differ from coil: a test must never drive the public siren")
        return self


class GpioRelayConfig(ActuatorConfig):
    """A relay on a GPIO line, written as a file (a sysfs ``value`` file, or a file a helper mirrors to the line)."""

    type: Literal["gpio_relay"] = "gpio_relay"
    path: Path = Field(description="File holding the public siren relay's state: '1' on, '0' off")
    test_path: Path | None = Field(None, description="File of the test output; without it test commands are refused")
    active_low: bool = Field(False, description="Write '0' for on and '1' for off (relay boards that sink current)")

    @model_validator(mode="after")
    def _distinct(self) -> GpioRelayConfig:
        if self.test_path is not None and self.test_path == self.path:
            raise ValueError("test_path must differ from path: a test must never drive the public siren")
        return self


class AudioPlayerConfig(ActuatorConfig):
    """An IP loudspeaker (or a sound card) driven by a player command line."""

    type: Literal["audio_player"] = "audio_player"
    command: list[str] = Field(
        min_length=1, description="Player command line; '{file}' is replaced by the audio file's full path"
    )
    directory: Path = Field(description="Folder holding the stored audio files; names never leave it")
    test_file: AudioName | None = Field(
        None, description="A quiet test tone in that folder; without it tests are refused"
    )
    test_command: list[str] | None = Field(
        None, min_length=1, description="Command line for the test tone (e.g. at low volume); default: command"
    )
    siren_file: AudioName | None = Field(
        None, description="A siren sound in that folder, looped for siren_on; without it siren_on is refused"
    )
    max_play_s: float = Field(600.0, gt=0, le=3600, description="A play command is stopped after this long")

    @field_validator("command", "test_command")
    @classmethod
    def _has_file(cls, command: list[str] | None) -> list[str] | None:
        if command is not None and not any("{file}" in arg for arg in command):
            raise ValueError("the command line needs a '{file}' argument")
        return command


ACTUATOR_CONFIGS: dict[str, type[ActuatorConfig]] = {
    "modbus_coil": ModbusCoilConfig,
    "gpio_relay": GpioRelayConfig,
    "audio_player": AudioPlayerConfig,
}
AnyActuatorConfig = tagged_union("actuator", ACTUATOR_CONFIGS)
