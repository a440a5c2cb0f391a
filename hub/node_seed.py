"""Seeding the device registry from node config files (the same files the nodes run on)."""

from __future__ import annotations

import glob
from pathlib import Path

from hub.store.state import NodeInfo
from wire.nodeconfig import NodeConfig, load_node_config


def node_info(config: NodeConfig) -> NodeInfo:
    site = config.site
    return NodeInfo(
        node_id=config.node_id,
        name=site.name,
        admin_code=site.admin_code,
        lat=site.lat,
        lon=site.lon,
        sensors=tuple((s.id, s.quantity.value, s.interval_s) for s in config.sensors),
    )


def load_seed_files(patterns: list[str], base: Path | None = None) -> list[NodeInfo]:
    """Every node config matching the globs; a bad file raises ConfigError naming it."""
    infos = []
    for pattern in patterns:
        full = str(base / pattern) if base is not None and not Path(pattern).is_absolute() else pattern
        for path in sorted(glob.glob(full, recursive=True)):
            infos.append(node_info(load_node_config(path)))
    return infos
