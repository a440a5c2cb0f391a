"""bench.multihub's cluster runs (``alerts.cluster``): one PostgreSQL database per run, read for what the cluster did.

Every hub of a cluster run gets ``alerts.cluster.dsn`` from the environment variable ``PG_ENV`` (a DSN is a secret,
never written to a config file); each run has a database of its own (``CREATE DATABASE``), because the leadership
row, its advisory lock and the ``iocgw_alerts`` schema are all per database (hub/alerts/leader.py, pg_store.py), so
runs never see each other's leader, alarms or queue.

Read from it: the alarm transitions the leaders committed (``iocgw_alerts.alarm_events``, in the shape of the
SQLite outbox rows that one hub keeps), what is still pending (events not handed to the dispatcher, alarm lines not
in InfluxDB, deliveries not done), and who leads (``public.leadership``: holder and epoch, the holder's advisory
lock checked in ``pg_locks``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from hub.alerts.leader import ALERT_LEADER_KEY
from testkit.localsvc import PostgreSQL

PG_ENV = "IOCGW_BENCH_MULTIHUB_PG_DSN"
SCHEMA = "iocgw_alerts"

# The holder's leadership session is named after it (AlertLeadership._run, truncated as PostgreSQL truncates it):
# the row says who took the lock last, the lock says whether that session still lives.
_LEADER = """SELECT l.holder, l.epoch, EXISTS (
        SELECT 1 FROM pg_locks k JOIN pg_stat_activity a ON a.pid = k.pid
        WHERE k.locktype = 'advisory' AND k.granted AND a.datname = current_database()
          AND a.application_name = left('iocgw-leader:' || l.holder, 63))
    FROM public.leadership l WHERE l.key = %s"""


@dataclass(frozen=True)
class Leader:
    holder: str  # the hub id (the hub's mqtt.client_id in these runs)
    epoch: int
    holds_lock: bool


class ClusterDB:
    """One run's database on the bench's PostgreSQL, and one autocommit connection to read it."""

    def __init__(self, pg: PostgreSQL, name: str) -> None:
        with psycopg.connect(pg.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.dsn = psycopg.conninfo.make_conninfo(pg.dsn, dbname=name)
        self.conn = psycopg.connect(self.dsn, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    def _rows(self, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(query, args).fetchall()
        except psycopg.errors.UndefinedTable:  # no leader has created the schema yet
            return []

    def _count(self, query: str) -> int:
        rows = self._rows(query)
        return int(rows[0][0]) if rows else 0

    def events(self) -> list[tuple[str, str, int, dict[str, Any]]]:
        """Every committed alarm change: (alarm id, transition, revision, alarm body), in commit order."""
        rows = self._rows(f"SELECT alarm_id, transition, revision, body FROM {SCHEMA}.alarm_events ORDER BY id")
        return [(aid, transition, int(rev), json.loads(body)) for aid, transition, rev, body in rows]

    def pending(self) -> dict[str, int]:
        """Events not handed to the dispatcher, alarm lines not in InfluxDB, deliveries not done."""
        return {
            "pg_undispatched": self._count(f"SELECT count(*) FROM {SCHEMA}.alarm_events WHERE NOT dispatched"),
            "pg_pending_lines": self._count(f"SELECT count(*) FROM {SCHEMA}.pending_lines"),
            "pg_deliveries": self._count(f"SELECT count(*) FROM {SCHEMA}.deliveries WHERE status = 'pending'"),
        }

    def deliveries_by_status(self) -> dict[str, int]:
        rows = self._rows(f"SELECT status, count(*) FROM {SCHEMA}.deliveries GROUP BY status ORDER BY status")
        return {str(s): int(n) for s, n in rows}

    def leader(self) -> Leader | None:
        rows = self._rows(_LEADER, (ALERT_LEADER_KEY,))
        if not rows:
            return None
        holder, epoch, holds = rows[0]
        return Leader(str(holder), int(epoch), bool(holds))
