"""MQTT topic names: built and parsed in one place."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

TOPIC_VERSION = "v1"


class Channel(StrEnum):
    TELEMETRY = "telemetry"
    EVENT = "event"
    SNAPSHOT = "snapshot"
    STATUS = "status"
    CONFIG = "config"
    ACK = "ack"
    ACTUATE = "actuate"
    ACTUATE_ACK = "actuate_ack"


@dataclass(frozen=True)
class TopicParts:
    node_id: str
    channel: Channel
    rest: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topics:
    """Topic layout ``<prefix>/v1/<node_id>/<channel>[/...]``.

    The version sits in the topic so that a v2 contract can run beside v1 on the same broker during a fleet upgrade.
    """

    prefix: str = "iocgw"

    @property
    def root(self) -> str:
        return f"{self.prefix}/{TOPIC_VERSION}"

    def telemetry(self, node_id: str) -> str:
        return f"{self.root}/{node_id}/{Channel.TELEMETRY}"

    def event(self, node_id: str) -> str:
        return f"{self.root}/{node_id}/{Channel.EVENT}"

    def snapshot(self, node_id: str, camera: str, label: str) -> str:
        return f"{self.root}/{node_id}/{Channel.SNAPSHOT}/{camera}/{label}"

    def status(self, node_id: str) -> str:
        return f"{self.root}/{node_id}/{Channel.STATUS}"

    def config(self, node_id: str) -> str:
        return f"{self.root}/{node_id}/{Channel.CONFIG}"

    def ack(self, node_id: str) -> str:
        return f"{self.root}/{node_id}/{Channel.ACK}"

    def actuate(self, node_id: str) -> str:
        """Hub to node: signed actuator commands (wire.actuate)."""
        return f"{self.root}/{node_id}/{Channel.ACTUATE}"

    def actuate_ack(self, node_id: str) -> str:
        """Node to hub: the outcome of each actuator command."""
        return f"{self.root}/{node_id}/{Channel.ACTUATE_ACK}"

    def all_of(self, channel: Channel) -> str:
        """Wildcard subscription for one channel of every node."""
        suffix = "/#" if channel is Channel.SNAPSHOT else ""
        return f"{self.root}/+/{channel}{suffix}"

    def parse(self, topic: str) -> TopicParts:
        """Split a topic under this prefix; raises ValueError naming what is wrong."""
        head = self.root + "/"
        if not topic.startswith(head):
            raise ValueError(f"topic {topic!r} is not under {head!r}")
        parts = topic[len(head) :].split("/")
        if len(parts) < 2 or not parts[0]:
            raise ValueError(f"topic {topic!r} has no node id and channel")
        try:
            channel = Channel(parts[1])
        except ValueError:
            raise ValueError(f"topic {topic!r} has unknown channel {parts[1]!r}") from None
        return TopicParts(node_id=parts[0], channel=channel, rest=tuple(parts[2:]))


def shared(group: str, topic_filter: str) -> str:
    """MQTT v5 shared subscription: the broker hands each message to one member of ``group``."""
    return f"$share/{group}/{topic_filter}"
