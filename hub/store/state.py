"""The hub's SQLite file: device registry, dead letters, spool of unwritten batches, dedupe state, latest snapshots."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from plumbing.sqlite import open_db, transaction

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS nodes (
        node_id TEXT PRIMARY KEY, name TEXT, admin_code TEXT, lat REAL, lon REAL,
        registered INTEGER NOT NULL DEFAULT 1, last_seen REAL, state TEXT, last_status TEXT)""",
    """CREATE TABLE IF NOT EXISTS sensors (
        node_id TEXT NOT NULL, sensor_id TEXT NOT NULL, quantity TEXT, interval_s REAL,
        last_seen REAL, last_value REAL, PRIMARY KEY (node_id, sensor_id))""",
    """CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT, received REAL NOT NULL, topic TEXT NOT NULL,
        reason TEXT NOT NULL, payload BLOB, payload_size INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS spool (
        id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, lines INTEGER NOT NULL, body BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS dedupe (node_id TEXT PRIMARY KEY, floor INTEGER NOT NULL, recent TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS snapshots (
        node_id TEXT NOT NULL, camera TEXT NOT NULL, label TEXT NOT NULL, received REAL NOT NULL,
        jpeg BLOB NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (node_id, camera, label))""",
    # The last few distinct errors each node reported (its status's last_error), for the technician's view: a
    # status carries only the current one, and a fault that comes and goes would otherwise leave no trace.
    """CREATE TABLE IF NOT EXISTS node_errors (
        node_id TEXT NOT NULL, error TEXT NOT NULL, first_reported REAL NOT NULL, last_reported REAL NOT NULL,
        reports INTEGER NOT NULL, PRIMARY KEY (node_id, error))""",
    # When each node's outbox_dropped count last grew: the count is since the node's outbox was made, so without
    # this a node that dropped messages once, months ago, would look like one dropping them now.
    """CREATE TABLE IF NOT EXISTS node_drops (node_id TEXT PRIMARY KEY, dropped INTEGER NOT NULL, grew_at REAL)""",
]

DEAD_LETTER_KEEP_BYTES = 64 * 1024
# Distinct errors kept per node, the most recently reported: enough to see a fault that comes back, bounded so a
# node reporting a new text every minute (a counter in the message) cannot grow the file.
ERRORS_KEPT_PER_NODE = 5
# A node's dead letters are looked for among this many of the newest (the topic is not indexed).
DEAD_LETTERS_SCANNED = 5000
NODE_COLUMNS = ("node_id", "name", "admin_code", "lat", "lon", "last_seen", "state", "last_status")
BATTERY = "battery_voltage"  # wire.Quantity.BATTERY_VOLTAGE; the store does not import the wire package


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    reason: str
    payload: bytes
    received: float


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    name: str = ""
    admin_code: str | None = None
    lat: float | None = None
    lon: float | None = None
    sensors: tuple[tuple[str, str, float], ...] = ()  # (sensor_id, quantity, interval_s)


class HubState:
    """Used from one thread at a time (the writer), except the read-only queries the API makes."""

    def __init__(self, path: Path | str) -> None:
        self.db = open_db(path, synchronous="NORMAL")
        for stmt in SCHEMA:
            self.db.conn.execute(stmt)

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    # -- registry -----------------------------------------------------------------------------------------
    def register(self, nodes: Iterable[NodeInfo]) -> int:
        n = 0
        with transaction(self.db) as c:
            for node in nodes:
                c.execute(
                    "INSERT INTO nodes (node_id, name, admin_code, lat, lon, registered) VALUES (?, ?, ?, ?, ?, 1) "
                    "ON CONFLICT(node_id) DO UPDATE SET name=excluded.name, admin_code=excluded.admin_code, "
                    "lat=excluded.lat, lon=excluded.lon, registered=1",
                    (node.node_id, node.name, node.admin_code, node.lat, node.lon),
                )
                for sensor_id, quantity, interval_s in node.sensors:
                    c.execute(
                        "INSERT INTO sensors (node_id, sensor_id, quantity, interval_s) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT(node_id, sensor_id) DO UPDATE SET quantity=excluded.quantity, "
                        "interval_s=excluded.interval_s",
                        (node.node_id, sensor_id, quantity, interval_s),
                    )
                n += 1
        return n

    def known_nodes(self) -> dict[str, NodeInfo]:
        sensors: dict[str, list[tuple[str, str, float]]] = {}
        # Only sensors a node's config declared: one first met in telemetry has no quantity or interval yet, and
        # the checks that read intervals (quality control, freshness) must not take it for a configured one.
        for node_id, sensor_id, quantity, interval_s in self.conn.execute(
            "SELECT node_id, sensor_id, quantity, interval_s FROM sensors WHERE interval_s IS NOT NULL"
        ):
            sensors.setdefault(node_id, []).append((sensor_id, quantity, interval_s))
        return {
            row[0]: NodeInfo(row[0], row[1] or "", row[2], row[3], row[4], tuple(sensors.get(row[0], ())))
            for row in self.conn.execute("SELECT node_id, name, admin_code, lat, lon FROM nodes WHERE registered = 1")
        }

    def nodes(self) -> list[dict[str, object]]:
        cur = self.conn.execute(
            "SELECT node_id, name, admin_code, lat, lon, last_seen, state, last_status FROM nodes ORDER BY node_id"
        )
        cols = [d[0] for d in cur.description]
        out = []
        for row in cur.fetchall():
            item = dict(zip(cols, row, strict=True))
            item["last_status"] = json.loads(item["last_status"]) if item["last_status"] else None
            out.append(item)
        return out

    def node_overview(self, node_id: str | None = None) -> list[dict[str, object]]:
        """``nodes()`` (or the one ``node_id``) with, per node, its most recently reported error and its battery's
        latest reading, in one query (the console asks every few seconds, for hundreds of nodes). The battery is the
        registered sensor of quantity battery_voltage heard last; ``latest_error`` is {error, first_reported,
        last_reported, reports}; ``last_drop_at`` when its outbox_dropped count last grew."""
        where = "" if node_id is None else "WHERE n.node_id = ? "
        cur = self.conn.execute(
            "SELECT n.node_id, n.name, n.admin_code, n.lat, n.lon, n.last_seen, n.state, n.last_status, "
            "e.error, e.first_reported, e.last_reported, e.reports, b.sensor_id, b.last_value, b.last_seen, "
            "d.grew_at "
            "FROM nodes n LEFT JOIN (SELECT node_id, error, first_reported, last_reported, reports, row_number() "
            "OVER (PARTITION BY node_id ORDER BY last_reported DESC, rowid DESC) AS k FROM node_errors) e "
            "ON e.node_id = n.node_id AND e.k = 1 "
            "LEFT JOIN (SELECT node_id, sensor_id, last_value, last_seen, row_number() "
            "OVER (PARTITION BY node_id ORDER BY last_seen DESC) AS k FROM sensors "
            "WHERE quantity = ? AND last_value IS NOT NULL) b ON b.node_id = n.node_id AND b.k = 1 "
            "LEFT JOIN node_drops d ON d.node_id = n.node_id "
            f"{where}ORDER BY n.node_id",
            (BATTERY,) if node_id is None else (BATTERY, node_id),
        )
        out: list[dict[str, object]] = []
        for row in cur.fetchall():
            item = dict(zip(NODE_COLUMNS, row[:8], strict=True))
            item["last_status"] = json.loads(row[7]) if row[7] else None
            error, first, last, reports, sensor_id, volts, at, item["last_drop_at"] = row[8:]
            item["latest_error"] = (
                None
                if error is None
                else {"error": error, "first_reported": first, "last_reported": last, "reports": reports}
            )
            item["battery"] = None if sensor_id is None else {"sensor_id": sensor_id, "volts": volts, "at": at}
            out.append(item)
        return out

    def node_errors(self, node_id: str) -> list[dict[str, object]]:
        """The node's kept errors, the most recently reported first."""
        cur = self.conn.execute(
            "SELECT error, first_reported, last_reported, reports FROM node_errors WHERE node_id = ? "
            "ORDER BY last_reported DESC, rowid DESC",
            (node_id,),
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    # -- what a flush persists, in one transaction --------------------------------------------------------
    def persist(
        self,
        *,
        dead_letters: list[DeadLetter],
        seen: dict[str, float],
        statuses: dict[str, tuple[str, str]],
        sensor_values: dict[tuple[str, str], tuple[float, float]],
        dedupe: dict[str, tuple[int, list[int]]],
        spool_body: bytes | None = None,
        spool_lines: int = 0,
        snapshots: dict[tuple[str, str, str], tuple[float, bytes]] | None = None,
    ) -> None:
        with transaction(self.db) as c:
            if spool_body is not None:
                c.execute(
                    "INSERT INTO spool (created, lines, body) VALUES (?, ?, ?)", (time.time(), spool_lines, spool_body)
                )
            c.executemany(
                "INSERT INTO dead_letters (received, topic, reason, payload, payload_size) VALUES (?, ?, ?, ?, ?)",
                [
                    (d.received, d.topic, d.reason, d.payload[:DEAD_LETTER_KEEP_BYTES], len(d.payload))
                    for d in dead_letters
                ],
            )
            c.executemany(
                "INSERT INTO nodes (node_id, registered, last_seen) VALUES (?, 0, ?) "
                "ON CONFLICT(node_id) DO UPDATE SET last_seen = max(coalesce(last_seen, 0), excluded.last_seen)",
                list(seen.items()),
            )
            c.executemany(
                "UPDATE nodes SET state = ?, last_status = ? WHERE node_id = ?",
                [(state, status, node) for node, (state, status) in statuses.items()],
            )
            self._remember_health(c, statuses, seen)
            c.executemany(
                "INSERT INTO sensors (node_id, sensor_id, last_seen, last_value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(node_id, sensor_id) DO UPDATE SET last_seen = excluded.last_seen, "
                "last_value = excluded.last_value",
                [(n, s, t, v) for (n, s), (t, v) in sensor_values.items()],
            )
            c.executemany(
                "INSERT OR REPLACE INTO dedupe VALUES (?, ?, ?)",
                [(node, floor, json.dumps(recent)) for node, (floor, recent) in dedupe.items()],
            )
            # The latest per camera and label. A retained snapshot comes again on every (re)subscribe: the same
            # bytes keep the time they were first received.
            c.executemany(
                "INSERT INTO snapshots (node_id, camera, label, received, jpeg, size) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(node_id, camera, label) DO UPDATE SET "
                "received = CASE WHEN jpeg = excluded.jpeg THEN received ELSE excluded.received END, "
                "jpeg = excluded.jpeg, size = excluded.size",
                [(n, cam, lab, t, jpeg, len(jpeg)) for (n, cam, lab), (t, jpeg) in (snapshots or {}).items()],
            )

    @staticmethod
    def _remember_health(c: sqlite3.Connection, statuses: dict[str, tuple[str, str]], seen: dict[str, float]) -> None:
        """From each status: its last_error into the node's kept errors, and whether its outbox_dropped count grew;
        dated by when the hub received it (the hub's clock, as last_seen is). The oldest errors beyond
        ERRORS_KEPT_PER_NODE go. Only the batch's latest status per node is seen here: at heartbeat intervals that
        is every one."""
        now = time.time()
        for node, (_state, text) in statuses.items():
            status = json.loads(text)
            at = seen.get(node, now)
            dropped = status.get("outbox_dropped")
            if isinstance(dropped, int):
                # A first count above zero is dated now: when it grew before the hub heard of it is not known.
                c.execute(
                    "INSERT INTO node_drops (node_id, dropped, grew_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(node_id) DO UPDATE SET grew_at = CASE WHEN excluded.dropped > dropped "
                    "THEN excluded.grew_at ELSE grew_at END, dropped = excluded.dropped",
                    (node, dropped, at if dropped > 0 else None),
                )
            error = status.get("last_error")
            if not error:
                continue
            c.execute(
                "INSERT INTO node_errors (node_id, error, first_reported, last_reported, reports) "
                "VALUES (?, ?, ?, ?, 1) ON CONFLICT(node_id, error) DO UPDATE SET "
                "last_reported = max(last_reported, excluded.last_reported), reports = reports + 1",
                (node, error, at, at),
            )
            c.execute(
                "DELETE FROM node_errors WHERE node_id = ? AND rowid NOT IN (SELECT rowid FROM node_errors "
                "WHERE node_id = ? ORDER BY last_reported DESC, rowid DESC LIMIT ?)",
                (node, node, ERRORS_KEPT_PER_NODE),
            )

    def load_dedupe(self) -> dict[str, tuple[int, list[int]]]:
        return {row[0]: (row[1], json.loads(row[2])) for row in self.conn.execute("SELECT * FROM dedupe")}

    # -- camera snapshots ---------------------------------------------------------------------------------
    def snapshot(self, node_id: str, camera: str, label: str) -> tuple[float, bytes] | None:
        """(time received, JPEG bytes) of the latest snapshot, or None."""
        row = self.conn.execute(
            "SELECT received, jpeg FROM snapshots WHERE node_id = ? AND camera = ? AND label = ?",
            (node_id, camera, label),
        ).fetchone()
        return None if row is None else (float(row[0]), bytes(row[1]))

    def snapshots_of(self, node_id: str) -> list[dict[str, object]]:
        """The node's latest snapshots, without their bytes: camera, label, received, size."""
        cur = self.conn.execute(
            "SELECT camera, label, received, size FROM snapshots WHERE node_id = ? ORDER BY camera, label", (node_id,)
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    # -- spool --------------------------------------------------------------------------------------------
    def spool_depth(self) -> tuple[int, int]:
        """(batches, lines) waiting for InfluxDB."""
        row = self.conn.execute("SELECT count(*), coalesce(sum(lines), 0) FROM spool").fetchone()
        return int(row[0]), int(row[1])

    def spool_bytes(self) -> int:
        return int(self.conn.execute("SELECT coalesce(sum(length(body)), 0) FROM spool").fetchone()[0])

    def spool_head(self) -> tuple[int, bytes, int] | None:
        row = self.conn.execute("SELECT id, body, lines FROM spool ORDER BY id LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]), int(row[2]))

    def spool_pop(self, spool_id: int) -> None:
        self.conn.execute("DELETE FROM spool WHERE id = ?", (spool_id,))

    def prune_dead_letters(self, max_age_s: float, max_bytes: int, now: float | None = None) -> int:
        """Drop dead letters older than ``max_age_s``, then the oldest until the rest hold at most ``max_bytes``
        (kept payload and reason). Returns how many went: one node sending junk must not fill the hub's disk."""
        cutoff = (now if now is not None else time.time()) - max_age_s
        with transaction(self.db) as c:
            aged = c.execute("DELETE FROM dead_letters WHERE received < ?", (cutoff,)).rowcount
            row = c.execute(
                "SELECT id FROM (SELECT id, SUM(coalesce(length(payload), 0) + length(reason)) "
                "OVER (ORDER BY id DESC) AS kept FROM dead_letters) WHERE kept > ? ORDER BY id DESC LIMIT 1",
                (max_bytes,),
            ).fetchone()
            sized = c.execute("DELETE FROM dead_letters WHERE id <= ?", (row[0],)).rowcount if row else 0
        return int(aged) + int(sized)

    def dead_letter_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def dead_letters(self, limit: int = 100) -> list[dict[str, object]]:
        cur = self.conn.execute(
            "SELECT id, received, topic, reason, payload_size FROM dead_letters ORDER BY id DESC LIMIT ?", (limit,)
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def dead_letters_of(self, node_id: str, limit: int = 10) -> list[dict[str, object]]:
        """The newest dead letters on the node's topics (<prefix>/v1/<node_id>/...), among the newest
        DEAD_LETTERS_SCANNED of all: bounded work for a table that is not indexed by node."""
        cur = self.conn.execute(
            "SELECT id, received, topic, reason, payload_size FROM dead_letters "
            "WHERE id > (SELECT coalesce(max(id), 0) FROM dead_letters) - ? AND instr('/' || topic, ?) > 0 "
            "ORDER BY id DESC LIMIT ?",
            (DEAD_LETTERS_SCANNED, f"/v1/{node_id}/", limit),
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def close(self) -> None:
        self.conn.close()
