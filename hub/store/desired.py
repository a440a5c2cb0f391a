"""Desired node configurations: what the hub wants each node to run, with who set it and when."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plumbing.sqlite import open_db, transaction

SCHEMA = """CREATE TABLE IF NOT EXISTS desired_config (
    node_id TEXT PRIMARY KEY, version TEXT NOT NULL, config TEXT NOT NULL, set_at REAL NOT NULL,
    set_by TEXT NOT NULL)"""


@dataclass(frozen=True)
class Desired:
    node_id: str
    version: str
    config: dict[str, Any]
    set_at: float
    set_by: str


class DesiredConfigs:
    """One row per node; each instance has its own connection (the API thread and the MQTT thread both read)."""

    def __init__(self, path: Path | str) -> None:
        self.db = open_db(path, synchronous="FULL")
        with transaction(self.db) as c:
            c.execute(SCHEMA)

    def put(self, node_id: str, version: str, config: dict[str, Any], by: str) -> Desired:
        row = Desired(node_id, version, config, time.time(), by)
        with transaction(self.db) as c:
            c.execute(
                "INSERT OR REPLACE INTO desired_config VALUES (?, ?, ?, ?, ?)",
                (node_id, version, json.dumps(config), row.set_at, by),
            )
        return row

    def get(self, node_id: str) -> Desired | None:
        r = self.db.conn.execute("SELECT * FROM desired_config WHERE node_id = ?", (node_id,)).fetchone()
        return None if r is None else Desired(r[0], r[1], json.loads(r[2]), r[3], r[4])

    def all(self) -> list[Desired]:
        rows = self.db.conn.execute("SELECT * FROM desired_config ORDER BY node_id").fetchall()
        return [Desired(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def close(self) -> None:
        self.db.conn.close()
