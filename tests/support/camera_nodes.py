"""A camera node for end-to-end tests (in-process agent, fast reconnects, short drain) and its stored events."""

from __future__ import annotations

from pathlib import Path

from tests.support.influx import query
from tests.support.processes import AgentThread
from wire.nodeconfig import NodeConfig


def camera_node(tmp_path: Path, port: int, node_id: str, cameras: list[dict[str, object]]) -> AgentThread:
    config = NodeConfig.model_validate(
        {
            "node_id": node_id,
            "data_dir": str(tmp_path / node_id),
            "heartbeat_s": 3600,
            "mqtt": {"port": port, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0},
            "outbox": {"confirm_timeout_s": 3.0, "synchronous": "NORMAL", "drain_on_stop_s": 2.0},
            "cameras": cameras,
        }
    )
    return AgentThread(config).start()


def events(influx_url: str, node_id: str) -> list[dict]:
    """The node's camera events as the hub stored them, in the node's sequence order."""
    rows = query(influx_url, "iocgw", f"SELECT * FROM camera_event WHERE node_id='{node_id}'")
    return sorted(rows, key=lambda r: r["seq"])
