"""Which identities the broker knows: nodes from the node registry (node config files or the hub's hub.db)."""

from __future__ import annotations

import glob
import sqlite3
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hub.provision.files import ProvisionError
from wire.messages import Identifier
from wire.nodeconfig import load_node_config

PREFIX_PATTERN = r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"


class NodeIdentity(BaseModel):
    """One node as the broker sees it: its certificate CN (or password user) and its topic prefix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node_id: Identifier
    prefix: str = Field("iocgw", pattern=PREFIX_PATTERN)


def _from_db(path: Path, prefix: str) -> list[NodeIdentity]:
    # Read-only: provisioning must never create or change the hub's database.
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT node_id FROM nodes WHERE registered = 1 ORDER BY node_id").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ProvisionError(f"{path}: cannot read the node registry: {exc}") from exc
    return [NodeIdentity(node_id=r[0], prefix=prefix) for r in rows]


def load_identities(sources: list[str], prefix: str = "iocgw") -> list[NodeIdentity]:
    """Nodes from each source: a ``.db`` file is a hub.db (only registered nodes, all under ``prefix``), anything
    else a glob of node config files (each with its own ``mqtt.prefix``). Raises ConfigError for a bad file."""
    found: dict[str, NodeIdentity] = {}
    for source in sources:
        if source.endswith(".db"):
            if not Path(source).is_file():
                raise ProvisionError(f"{source}: no such hub database")
            nodes = _from_db(Path(source), prefix)
        else:
            paths = sorted(glob.glob(source, recursive=True))
            if not paths:
                raise ProvisionError(f"{source}: matches no node config file")
            nodes = []
            for path in paths:
                config = load_node_config(path)
                nodes.append(NodeIdentity(node_id=config.node_id, prefix=config.mqtt.prefix))
        for node in nodes:
            seen = found.get(node.node_id)
            if seen is not None and seen != node:
                raise ProvisionError(f"node {node.node_id} appears with prefixes {seen.prefix} and {node.prefix}")
            found[node.node_id] = node
    return sorted(found.values(), key=lambda n: n.node_id)
