"""Remote configuration, hub side: validate a node's desired config, keep it, publish it retained.

The retained message on ``<prefix>/v1/<node>/config`` is what a node applies whenever it connects, so the hub
publishes every desired config again on each (re)connect: a broker that lost its retained store still converges.
The node reports the version it applied (or why it refused one) in its status; ``view`` puts both side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from hub.store.desired import Desired, DesiredConfigs
from wire import ConfigMessage, Topics
from wire.nodeconfig import NodeConfig

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, int, bool], bool]  # topic, payload, qos, retain -> sent


class InvalidNodeConfig(ValueError):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {r}" for f, r in problems))
        self.problems = problems


def check(node_id: str, config: dict[str, Any]) -> NodeConfig:
    """The node runs the same validation; checking here first turns a typo into an API error, not a refusal later."""
    try:
        parsed = NodeConfig.model_validate(config)
    except ValidationError as exc:
        raise InvalidNodeConfig(
            [(".".join(str(p) for p in e["loc"]) or "(top level)", e["msg"]) for e in exc.errors()]
        ) from None
    if parsed.node_id != node_id:
        raise InvalidNodeConfig([("node_id", f"is {parsed.node_id!r}; this is the config of {node_id!r}")])
    return parsed


class NodeConfigs:
    def __init__(self, store: DesiredConfigs, topics: Topics, publish: Publish) -> None:
        self.store = store
        self.topics = topics
        self.publish = publish

    def message(self, desired: Desired) -> bytes:
        msg = ConfigMessage(
            node_id=desired.node_id,
            ts=datetime.fromtimestamp(desired.set_at, UTC),
            version=desired.version,
            config=desired.config,
        )
        return msg.model_dump_json().encode()

    def set(self, node_id: str, version: str, config: dict[str, Any], by: str) -> tuple[Desired, bool]:
        """Validate, store, publish; returns the record and whether it reached the broker now (else on reconnect)."""
        check(node_id, config)
        desired = self.store.put(node_id, version, config, by)
        sent = self.publish(self.topics.config(node_id), self.message(desired), 1, True)
        log.info("desired config %s for %s set by %s (%s)", version, node_id, by, "sent" if sent else "queued")
        return desired, sent

    def republish_all(self) -> int:
        count = 0
        for desired in self.store.all():
            count += bool(self.publish(self.topics.config(desired.node_id), self.message(desired), 1, True))
        return count
