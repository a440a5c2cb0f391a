"""Remote configuration: the hub's desired config for this node, validated, remembered, and never half-applied.

The hub publishes a retained ``ConfigMessage`` on the node's config topic. The node checks it completely before
touching anything: it must be addressed to this node, be a valid ``NodeConfig``, and leave the node's identity and
storage alone (``node_id``, ``data_dir`` and the outbox file cannot move remotely: moving them would orphan the
outbox). An accepted config is written atomically to ``<data_dir>/remote-config.json`` before it is applied, so a
restart comes back on it; a refused one leaves the node on its current config and the reason in its status.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import ValidationError

from wire import ConfigMessage
from wire.nodeconfig import NodeConfig

log = logging.getLogger(__name__)

STORE_NAME = "remote-config.json"


class Verdict(StrEnum):
    APPLY = "apply"
    SAME = "same"  # the retained message again after a reconnect: nothing to do
    REFUSED = "refused"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    version: str | None = None
    config: NodeConfig | None = None
    error: str | None = None


def _problems(exc: ValidationError, limit: int = 10) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{field}: {err['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def judge(payload: bytes, current: NodeConfig, applied_version: str | None) -> Outcome:
    """Decide what to do with a config message; pure, so every refusal reason can be tested alone."""
    try:
        msg = ConfigMessage.model_validate_json(payload)
    except ValidationError as exc:
        return Outcome(Verdict.REFUSED, error=f"config message: {_problems(exc)}")
    if msg.node_id != current.node_id:
        return Outcome(Verdict.REFUSED, msg.version, error=f"addressed to {msg.node_id!r}, not {current.node_id!r}")
    if msg.version == applied_version:
        return Outcome(Verdict.SAME, msg.version)
    try:
        desired = NodeConfig.model_validate(msg.config)
    except ValidationError as exc:
        return Outcome(Verdict.REFUSED, msg.version, error=f"config {msg.version}: {_problems(exc)}")
    for name, now, then in (
        ("node_id", current.node_id, desired.node_id),
        ("data_dir", current.data_dir, desired.data_dir),
        ("outbox.path", current.outbox_path, desired.outbox_path),
    ):
        if now != then:
            return Outcome(
                Verdict.REFUSED, msg.version, error=f"config {msg.version}: {name} cannot be changed remotely"
            )
    return Outcome(Verdict.APPLY, msg.version, desired)


class RemoteConfigStore:
    """The last applied remote config, in the node's data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / STORE_NAME

    def save(self, version: str, config: NodeConfig) -> None:
        body = {
            "version": version,
            "applied": datetime.now(UTC).isoformat(),
            "config": json.loads(config.model_dump_json()),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(body, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def load(self, local: NodeConfig) -> tuple[NodeConfig, str | None]:
        """The config to start with: the remembered remote one if it is still valid for this node, else ``local``."""
        if not self.path.exists():
            return local, None
        try:
            body = json.loads(self.path.read_text(encoding="utf-8"))
            config = NodeConfig.model_validate(body["config"])
            version = str(body["version"])
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
            log.warning("ignoring %s: %s", self.path, exc)
            return local, None
        if (config.node_id, config.data_dir, config.outbox_path) != (local.node_id, local.data_dir, local.outbox_path):
            log.warning("ignoring %s: it belongs to another node id or data dir", self.path)
            return local, None
        return config, version

    def clear(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True
