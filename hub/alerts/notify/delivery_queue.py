"""The dispatcher's durable queue: the interface (``DeliveryQueue``) and its one-hub implementation on SQLite.

The Dispatcher (dispatcher.py) owns routing, workers, retries, rate limits and counters; a queue owns the rows: one
delivery per notification and target (unique, so the same change submitted twice queues nothing the second time),
the escalation clocks and the escalations done. ``SqliteQueue`` is one hub's file (notify.db, the default);
``PgQueue`` (pg_queue.py) keeps the same rows in PostgreSQL for several hubs, where a worker must claim a row
(a lease) before it sends it.

Every method blocks: the dispatcher calls them from the caller's thread (``submit``, ``check_escalations``) or
through ``asyncio.to_thread``; an implementation serialises its own connection.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hub.alerts.alarm import Alarm, AlarmState, Transition
from hub.alerts.notify.base import Notification
from plumbing.sqlite import Database, open_db, transaction

if TYPE_CHECKING:
    from hub.alerts.notify.config import Route

log = logging.getLogger(__name__)

PENDING, SENT, FAILED = "pending", "sent", "failed"


@dataclass(frozen=True)
class Delivery:
    """One row of the queue, for inspection."""

    id: int
    target: str
    notification_id: str
    alarm_id: str
    status: str
    attempts: int
    created: float
    next_at: float
    done_at: float | None
    last_error: str | None


@dataclass(frozen=True)
class QueuedRow:
    """The oldest pending row of a target, as its worker sees it.

    ``busy_s``: how long another dispatcher's claim on it still runs (0 when nobody else holds it; always 0 on
    SQLite, where one dispatcher owns the file).
    """

    id: int
    target: str
    attempts: int
    created: float
    next_at: float
    payload: str
    busy_s: float = 0.0


EscalationClock = tuple[int, Transition, float]  # (revision, transition, since) that started an escalation wait


def due_escalations(
    alarm: Alarm, clock: EscalationClock | None, routes: list[tuple[str, Route]], at: float
) -> tuple[int, Transition, list[tuple[str, Route]]]:
    """The routes whose escalation of ``alarm`` is due at ``at`` (seconds), with the revision and transition that
    started the wait; not yet checked against the escalations already done (the queue's insert does that)."""
    if alarm.state is not AlarmState.ACTIVE_UNACK:
        return 0, Transition.CREATED, []
    if clock is None:  # created before this queue existed: its wait began when it started
        revision, transition, since = 0, Transition.CREATED, alarm.started_at.timestamp()
    else:
        revision, transition, since = clock
    if alarm.revision < revision:
        return revision, transition, []  # an older copy of the alarm than the one that started the wait
    due = []
    for key, route in routes:
        assert route.escalate_after_s is not None
        if route.selects(alarm) and at - since >= route.escalate_after_s:
            due.append((key, route))
    return revision, transition, due


class DeliveryQueue(Protocol):
    """What the Dispatcher needs of its queue. Rows are keyed by (target, notification id)."""

    # None: workers sleep until something on their own hub wakes them. A number: they also look again this often,
    # because another dispatcher on the same queue can add rows or hold a claim (PostgreSQL).
    idle_poll_s: float | None

    def enqueue(
        self, alarm: Alarm, transition: Transition, targets: list[str], configured: Collection[str], when: datetime
    ) -> list[str]:
        """Queue ``alarm``'s change for ``targets`` (a clear also for every configured target told about the alarm
        before) and move its escalation clock, in one transaction; the targets of the rows inserted (a notification
        already queued for a target is not queued again)."""
        ...

    def escalate(self, alarms: Iterable[Alarm], routes: list[tuple[str, Route]], now: datetime) -> list[str]:
        """Queue the escalations due at ``now`` (``due_escalations``), each once per alarm, revision and route."""
        ...

    def pending_by_target(self) -> list[tuple[str, int, float]]:
        """(target, pending rows, created time of the oldest) per target with pending rows."""
        ...

    def deliveries(self, status: str | None, target: str | None, limit: int) -> list[Delivery]: ...

    def pending_count(self, targets: Collection[str]) -> int: ...

    def head(self, target: str) -> QueuedRow | None:
        """The target's oldest pending row (the next to send: rows go out in order), or None."""
        ...

    def claim(self, row: QueuedRow, lease_s: float) -> bool:
        """Take ``row`` for one attempt lasting at most ``lease_s``; False if it is no longer this worker's to send
        (another dispatcher claimed it, or it is done)."""
        ...

    def mark_done(self, row_id: int, status: str, error: str | None, attempted: bool) -> None: ...

    def mark_retry(self, row_id: int, attempts: int, next_at: float, error: str) -> None: ...

    def fail_orphans(self, configured: Collection[str]) -> list[tuple[str, int]]:
        """Mark failed the pending rows of targets not in ``configured``; (target, rows) per such target."""
        ...

    def prune(self, keep_sent_s: float, keep_failed_s: float) -> None: ...

    def close(self) -> None:
        """Close the connection; no method may be called afterwards (they raise RuntimeError)."""
        ...


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS deliveries (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        notification_id TEXT NOT NULL,
        alarm_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        next_at REAL NOT NULL,
        done_at REAL,
        last_error TEXT,
        UNIQUE (target, notification_id))""",
    "CREATE INDEX IF NOT EXISTS deliveries_queue ON deliveries (target, status, id)",
    "CREATE INDEX IF NOT EXISTS deliveries_alarm ON deliveries (alarm_id)",
    # When each alarm last became ACTIVE_UNACK (created or escalated): the start of its escalation wait.
    """CREATE TABLE IF NOT EXISTS escalation_clocks (
        alarm_id TEXT PRIMARY KEY, revision INTEGER NOT NULL, transition TEXT NOT NULL, since REAL NOT NULL)""",
    # Escalations done, so each happens once per alarm revision and route, across restarts too.
    """CREATE TABLE IF NOT EXISTS escalations (
        alarm_id TEXT NOT NULL, revision INTEGER NOT NULL, route TEXT NOT NULL, at REAL NOT NULL,
        PRIMARY KEY (alarm_id, revision, route))""",
)


class SqliteQueue:
    """One hub's queue in a SQLite file (WAL), opened on first use (no I/O in the constructor).

    One connection, used from the writer thread (submit) and from to_thread workers (the loop's statements): the
    lock keeps one statement or transaction on it at a time. One dispatcher owns the file, so ``claim`` always
    succeeds and a pending row is never busy.
    """

    idle_poll_s: float | None = None

    def __init__(self, db_path: Path | str) -> None:
        self.db_path = Path(db_path)
        self._db: Database | None = None
        self.lock = threading.Lock()
        self._closed = False

    def _database(self) -> Database:
        """The queue, opened on first use (never again after close); the caller holds the lock."""
        if self._db is None:
            if self._closed:
                raise RuntimeError("dispatcher is closed")
            db = open_db(self.db_path)
            for statement in _SCHEMA:
                db.conn.execute(statement)
            self._db = db
        return self._db

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self.lock, transaction(self._database()) as c:
            yield c

    def _read(self, sql: str, args: tuple[object, ...]) -> list[Any]:
        with self.lock:
            return self._database().conn.execute(sql, args).fetchall()

    def close(self) -> None:
        with self.lock:
            self._closed = True
            if self._db is not None:
                self._db.conn.close()
                self._db = None

    def enqueue(
        self, alarm: Alarm, transition: Transition, targets: list[str], configured: Collection[str], when: datetime
    ) -> list[str]:
        with self._write() as c:
            if transition is Transition.CLEARED:
                told = {
                    r[0] for r in c.execute("SELECT DISTINCT target FROM deliveries WHERE alarm_id = ?", (alarm.id,))
                }
                targets = targets + [t for t in configured if t in told and t not in targets]
            queued = self._insert(c, [Notification.make(alarm, transition, t, when) for t in targets])
            if transition in (Transition.CREATED, Transition.ESCALATED):
                c.execute(
                    "INSERT OR REPLACE INTO escalation_clocks VALUES (?, ?, ?, ?)",
                    (alarm.id, alarm.revision, transition.value, alarm.updated_at.timestamp()),
                )
            elif transition is Transition.CLEARED:
                c.execute("DELETE FROM escalation_clocks WHERE alarm_id = ?", (alarm.id,))
                c.execute("DELETE FROM escalations WHERE alarm_id = ?", (alarm.id,))
        return queued

    def escalate(self, alarms: Iterable[Alarm], routes: list[tuple[str, Route]], now: datetime) -> list[str]:
        at = now.timestamp()
        queued: list[str] = []
        with self._write() as c:
            for alarm in alarms:
                if alarm.state is not AlarmState.ACTIVE_UNACK:
                    continue
                row = c.execute(
                    "SELECT revision, transition, since FROM escalation_clocks WHERE alarm_id = ?", (alarm.id,)
                ).fetchone()
                clock = None if row is None else (int(row[0]), Transition(row[1]), float(row[2]))
                revision, transition, due = due_escalations(alarm, clock, routes, at)
                for key, route in due:
                    done = c.execute(
                        "INSERT OR IGNORE INTO escalations VALUES (?, ?, ?, ?)", (alarm.id, revision, key, at)
                    ).rowcount
                    if not done:
                        continue
                    notes = [
                        Notification.make(alarm, transition, t, now, escalation_key=f"{revision}.{key}")
                        for t in route.escalate_to
                    ]
                    queued += self._insert(c, notes)
                    log.info("escalating %s %s (%s) to %s", alarm.rule, alarm.subject, alarm.id, route.escalate_to)
        return queued

    def _insert(self, c: sqlite3.Connection, notes: list[Notification]) -> list[str]:
        """Insert rows for the notifications not queued before; the targets of those inserted."""
        now = time.time()
        inserted = []
        for note in notes:
            cur = c.execute(
                "INSERT OR IGNORE INTO deliveries "
                "(target, notification_id, alarm_id, payload, status, created, next_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (note.target, note.id, note.alarm.id, note.model_dump_json(), PENDING, now, now),
            )
            if cur.rowcount:
                inserted.append(note.target)
        return inserted

    def pending_by_target(self) -> list[tuple[str, int, float]]:
        rows = self._read(
            "SELECT target, count(*), min(created) FROM deliveries WHERE status = ? GROUP BY target", (PENDING,)
        )
        return [(str(t), int(n), float(o)) for t, n, o in rows]

    def deliveries(self, status: str | None, target: str | None, limit: int) -> list[Delivery]:
        sql = (
            "SELECT id, target, notification_id, alarm_id, status, attempts, created, next_at, done_at, last_error "
            "FROM deliveries WHERE (? IS NULL OR status = ?) AND (? IS NULL OR target = ?) ORDER BY id DESC LIMIT ?"
        )
        return [Delivery(*row) for row in self._read(sql, (status, status, target, target, limit))]

    def pending_count(self, targets: Collection[str]) -> int:
        marks = ",".join("?" * len(targets))
        rows = self._read(
            f"SELECT count(*) FROM deliveries WHERE status = ? AND target IN ({marks})", (PENDING, *targets)
        )
        return int(rows[0][0])

    def head(self, target: str) -> QueuedRow | None:
        rows = self._read(
            "SELECT id, target, attempts, created, next_at, payload FROM deliveries "
            "WHERE target = ? AND status = ? ORDER BY id LIMIT 1",
            (target, PENDING),
        )
        return QueuedRow(*rows[0]) if rows else None

    def claim(self, row: QueuedRow, lease_s: float) -> bool:
        return True

    def mark_done(self, row_id: int, status: str, error: str | None, attempted: bool) -> None:
        with self._write() as c:
            c.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + ?, done_at = ?, last_error = ? WHERE id = ?",
                (status, int(attempted), time.time(), error, row_id),
            )

    def mark_retry(self, row_id: int, attempts: int, next_at: float, error: str) -> None:
        with self._write() as c:
            c.execute(
                "UPDATE deliveries SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?",
                (attempts, next_at, error, row_id),
            )

    def fail_orphans(self, configured: Collection[str]) -> list[tuple[str, int]]:
        marks = ",".join("?" * len(configured))
        with self._write() as c:
            orphans = c.execute(
                f"SELECT target, count(*) FROM deliveries WHERE status = ? AND target NOT IN ({marks}) GROUP BY target",
                (PENDING, *configured),
            ).fetchall()
            c.execute(
                f"UPDATE deliveries SET status = ?, done_at = ?, last_error = 'target no longer configured' "
                f"WHERE status = ? AND target NOT IN ({marks})",
                (FAILED, time.time(), PENDING, *configured),
            )
        return [(str(target), int(count)) for target, count in orphans]

    def prune(self, keep_sent_s: float, keep_failed_s: float) -> None:
        now = time.time()
        with self._write() as c:
            c.execute("DELETE FROM deliveries WHERE status = ? AND done_at < ?", (SENT, now - keep_sent_s))
            c.execute("DELETE FROM deliveries WHERE status = ? AND done_at < ?", (FAILED, now - keep_failed_s))
