"""The iocgw wire contract: MQTT topics and the pydantic models of every message.

Edge, hub, simulators and benchmarks import this package; it imports none of them.
"""

from wire.messages import (
    CONTRACT_VERSION,
    AckMessage,
    ConfigMessage,
    EventMessage,
    NodeState,
    Quality,
    Reading,
    StatusMessage,
    TelemetryMessage,
    parse_message,
)
from wire.quantities import CANONICAL_UNITS, Quantity
from wire.topics import Channel, TopicParts, Topics

__all__ = [
    "CANONICAL_UNITS",
    "CONTRACT_VERSION",
    "AckMessage",
    "Channel",
    "ConfigMessage",
    "EventMessage",
    "NodeState",
    "Quality",
    "Quantity",
    "Reading",
    "StatusMessage",
    "TelemetryMessage",
    "TopicParts",
    "Topics",
    "parse_message",
]
