"""Where the alert engine keeps its state: alarms, rule state (rolling sums, indices), and alarm events to notify."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hub.alerts.alarm import Alarm, Transition
from plumbing.sqlite import open_db, transaction

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS alarms (
        id TEXT PRIMARY KEY, rule TEXT NOT NULL, subject TEXT NOT NULL, active INTEGER NOT NULL,
        started_at TEXT NOT NULL, updated_at TEXT NOT NULL, body TEXT NOT NULL)""",
    # At most one active alarm per rule and subject: the database enforces what the engine promises.
    "CREATE UNIQUE INDEX IF NOT EXISTS one_active ON alarms (rule, subject) WHERE active = 1",
    "CREATE INDEX IF NOT EXISTS alarms_by_time ON alarms (updated_at)",
    "CREATE TABLE IF NOT EXISTS rule_state (key TEXT PRIMARY KEY, body TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS alarm_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, alarm_id TEXT NOT NULL, revision INTEGER NOT NULL,
        transition TEXT NOT NULL, body TEXT NOT NULL, dispatched INTEGER NOT NULL DEFAULT 0,
        UNIQUE (alarm_id, revision, transition))""",
    # Line protocol for InfluxDB made with the alarms, kept until the hub has stored it: a crash between the
    # commit here and the write there must not leave a hole in the alarm history the dashboards show.
    "CREATE TABLE IF NOT EXISTS pending_lines (id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL)",
]


class AlertStore:
    """Used from the engine's thread; the API reads through its own instance."""

    def __init__(self, path: Path | str) -> None:
        self.db = open_db(path, synchronous="NORMAL")
        for stmt in SCHEMA:
            self.db.conn.execute(stmt)

    def active_alarms(self) -> dict[tuple[str, str], Alarm]:
        rows = self.db.conn.execute("SELECT body FROM alarms WHERE active = 1")
        alarms = [Alarm.model_validate_json(r[0]) for r in rows]
        return {a.key: a for a in alarms}

    def rule_state(self, *keys: str) -> dict[str, Any]:
        """The rule state, or only ``keys`` of it (a reader after one entry need not read every rule's windows)."""
        if not keys:
            return {k: json.loads(v) for k, v in self.db.conn.execute("SELECT key, body FROM rule_state")}
        marks = ", ".join("?" * len(keys))
        rows = self.db.conn.execute(f"SELECT key, body FROM rule_state WHERE key IN ({marks})", keys)
        return {k: json.loads(v) for k, v in rows}

    def commit(
        self,
        alarms: list[tuple[Alarm, Transition]],
        state: dict[str, Any],
        notify: set[Transition],
        lines: list[str] | None = None,
    ) -> list[tuple[int, Alarm, Transition]]:
        """Store changed alarms, changed rule state and the events to notify, in one transaction.

        Returns the new events (id, alarm, transition) to hand to the notifier; an event already stored (a
        message replayed after a crash) is not returned again.
        """
        events: list[tuple[int, Alarm, Transition]] = []
        with transaction(self.db) as c:
            for alarm, transition in alarms:
                c.execute(
                    "INSERT INTO alarms (id, rule, subject, active, started_at, updated_at, body) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET active = excluded.active, "
                    "updated_at = excluded.updated_at, body = excluded.body",
                    (
                        alarm.id,
                        alarm.rule,
                        alarm.subject,
                        int(alarm.state.active),
                        alarm.started_at.isoformat(),
                        alarm.updated_at.isoformat(),
                        alarm.model_dump_json(),
                    ),
                )
                if transition in notify:
                    cur = c.execute(
                        "INSERT OR IGNORE INTO alarm_events (alarm_id, revision, transition, body) VALUES (?, ?, ?, ?)",
                        (alarm.id, alarm.revision, transition.value, alarm.model_dump_json()),
                    )
                    if cur.rowcount:
                        events.append((int(cur.lastrowid or 0), alarm, transition))
            c.executemany("INSERT INTO pending_lines (line) VALUES (?)", [(x,) for x in lines or ()])
            c.executemany(
                "INSERT OR REPLACE INTO rule_state (key, body) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in state.items()],
            )
        return events

    def pending_lines(self) -> tuple[int, list[str]]:
        """(highest id, lines) not yet confirmed as stored in InfluxDB."""
        rows = self.db.conn.execute("SELECT id, line FROM pending_lines ORDER BY id").fetchall()
        return (int(rows[-1][0]) if rows else 0), [r[1] for r in rows]

    def lines_stored(self, up_to_id: int) -> None:
        with transaction(self.db) as c:
            c.execute("DELETE FROM pending_lines WHERE id <= ?", (up_to_id,))

    def undispatched(self) -> list[tuple[int, Alarm, Transition]]:
        rows = self.db.conn.execute(
            "SELECT id, body, transition FROM alarm_events WHERE dispatched = 0 ORDER BY id"
        ).fetchall()
        return [(int(r[0]), Alarm.model_validate_json(r[1]), Transition(r[2])) for r in rows]

    def mark_dispatched(self, event_ids: list[int]) -> None:
        if event_ids:
            with transaction(self.db) as c:
                c.executemany("UPDATE alarm_events SET dispatched = 1 WHERE id = ?", [(i,) for i in event_ids])

    def alarms(
        self, *, active: bool | None = None, rule: str | None = None, area: str | None = None, limit: int = 200
    ) -> list[Alarm]:
        where: list[str] = []
        args: list[str | int] = []
        if active is not None:
            where.append("active = ?")
            args.append(int(active))
        if rule is not None:
            where.append("rule = ?")
            args.append(rule)
        if area is not None:
            # In SQL, before the LIMIT: filtered afterwards, an area's older alarms fell off the end of the page.
            where.append("substr(coalesce(json_extract(body, '$.area'), ''), 1, length(?)) = ?")
            args += [area, area]
        sql = "SELECT body FROM alarms" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY updated_at DESC LIMIT ?"
        return [Alarm.model_validate_json(r[0]) for r in self.db.conn.execute(sql, (*args, limit))]

    def get(self, alarm_id: str) -> Alarm | None:
        row = self.db.conn.execute("SELECT body FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
        return None if row is None else Alarm.model_validate_json(row[0])

    def close(self) -> None:
        self.db.conn.close()
