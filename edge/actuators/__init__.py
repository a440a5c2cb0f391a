"""Actuators (sirens, relays, loudspeakers). Importing this package registers every built-in actuator."""

from edge.actuators import audio_player, gpio_relay, modbus_coil  # noqa: F401 - registration side effect
from edge.actuators.base import ACTUATORS, Actuator, ActuatorError, Unsupported, build_actuator, register_actuator

__all__ = ["ACTUATORS", "Actuator", "ActuatorError", "Unsupported", "build_actuator", "register_actuator"]
