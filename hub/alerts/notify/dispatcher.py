"""Durable delivery of alarm notifications: a SQLite queue, one worker per target, retries, rate limits, escalation.

Every notification is a row (one per alarm change and target) written before anything is sent, and stays until
it is delivered or marked failed, so a hub restart resends what was pending. Each target has its own worker that
sends its rows oldest first, one at a time: a target that is down or slow holds up only its own rows, and an
older state of an alarm never arrives after a newer one (which matters for retained MQTT topics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from hub.alerts.alarm import Alarm, AlarmState, Transition
from hub.alerts.notify.base import Notification, Notifier, NotifyError
from hub.alerts.notify.config import NotifyConfig
from hub.alerts.notify.ratelimit import TokenBucket
from hub.alerts.notify.registry import build_notifier
from plumbing.sqlite import Database, open_db, transaction

log = logging.getLogger(__name__)

PENDING, SENT, FAILED = "pending", "sent", "failed"
_PRUNE_EVERY_S = 3600.0

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


@dataclass
class TargetStats:
    """Counters since this dispatcher started (sent, failed, retried) and the queue as it is now."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    pending: int = 0
    oldest_pending_s: float = 0.0


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
class _Row:
    id: int
    target: str
    attempts: int
    created: float
    next_at: float
    payload: str


class Dispatcher:
    """Routes alarm changes to targets and delivers them durably.

    Lifecycle: ``Dispatcher(config, db_path)`` (no I/O: the queue file is opened on first use), ``await start()``
    on the hub's event loop, then ``submit`` and ``check_escalations`` as alarms change, ``await close()`` at
    shutdown (rows not yet delivered stay pending and go out after the next start). Delivery is at least once:
    receivers drop duplicates by notification id.

    One concurrency model: the workers are asyncio tasks on the hub's loop, and everything that blocks runs in a
    worker thread (``asyncio.to_thread``): the queue's SQLite statements here, the SMTP exchange and the wait for
    an MQTT PUBACK in the notifiers. The only callers from another thread are ``submit`` and
    ``check_escalations`` (the hub's ingest writer thread, through the alert engine): synchronous, they only write
    rows and wake the workers with ``loop.call_soon_threadsafe``, never waiting for a target. ``stats`` and
    ``deliveries`` are synchronous reads: the hub calls them off the loop (/metrics does).
    """

    def __init__(self, config: NotifyConfig, db_path: Path | str) -> None:
        self.config = config
        self.db_path = Path(db_path)
        self._db: Database | None = None  # opened by the first call that needs it, under the lock
        # One connection, used from the writer thread (submit) and from to_thread workers (the loop's statements):
        # the lock keeps one statement or transaction on it at a time.
        self._lock = threading.Lock()
        self.notifiers: dict[str, Notifier] = {t.name: build_notifier(t) for t in config.targets}
        self._buckets = {n: TokenBucket(config.rate_per_min(n) / 60.0, config.rate_limit_burst) for n in self.notifiers}
        self._wake = {name: asyncio.Event() for name in self.notifiers}
        self._progress = asyncio.Event()
        self._counters: dict[str, TargetStats] = {name: TargetStats() for name in self.notifiers}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._random = random.Random()
        self._pruned_at = 0.0
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start one worker per target; rows left pending by an earlier run are sent again."""
        if self._loop is not None:
            raise RuntimeError("dispatcher already started")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        for target, count in await asyncio.to_thread(self._fail_orphans):
            self._counters.setdefault(target, TargetStats()).failed += count
            log.warning("%d pending notifications for removed target %s marked failed", count, target)
        await asyncio.to_thread(self._prune)
        for name in self.notifiers:
            self._workers.append(asyncio.create_task(self._work(name), name=f"notify-{name}"))

    async def close(self) -> None:
        """Stop the workers (an attempt in flight is abandoned and stays pending), close targets and the queue."""
        self._closed = True
        for task in self._workers:
            task.cancel()
        self._set_wake(set(self._wake))  # a worker also stops when it sees _closed
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        for notifier in self.notifiers.values():
            try:
                async with asyncio.timeout(10):
                    await notifier.close()
            except Exception as exc:  # closing one target must not keep the others open
                log.warning("closing notify target %s: %s", notifier.name, exc)
        await asyncio.to_thread(self._close_db)

    def _close_db(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.conn.close()
                self._db = None

    # -- accepting work (any thread) ----------------------------------------------------------------------
    def submit(self, alarm: Alarm, transition: Transition, now: datetime | None = None) -> int:
        """Queue this change for every target its routes select; returns how many deliveries were queued.

        A clear also goes to every target that was told about the alarm before (escalation targets included),
        so whoever heard about an alarm hears that it ended. Submitting the same change twice queues nothing
        the second time.
        """
        when = now or datetime.now(UTC)
        targets = self._routed(alarm, transition)
        with self._guard() as c:
            if transition is Transition.CLEARED:
                told = {
                    r[0] for r in c.execute("SELECT DISTINCT target FROM deliveries WHERE alarm_id = ?", (alarm.id,))
                }
                targets += [t for t in self.notifiers if t in told and t not in targets]
            queued = self._insert(c, [Notification.make(alarm, transition, t, when) for t in targets])
            self._track_escalation_clock(c, alarm, transition)
        self._wake_targets(queued)
        return len(queued)

    def check_escalations(self, active_alarms: Iterable[Alarm], now: datetime) -> int:
        """Queue escalations for alarms still ACTIVE_UNACK ``escalate_after_s`` after they started or escalated.

        Each route escalates an alarm once per revision at which it became unacknowledged (creation or
        escalation); call this periodically with the engine's active alarms. Returns deliveries queued.
        """
        routes = [(self.config.route_key(i), r) for i, r in enumerate(self.config.routes) if r.escalate_after_s]
        if not routes:
            return 0
        at = now.timestamp()
        queued: list[str] = []
        with self._guard() as c:
            for alarm in active_alarms:
                if alarm.state is not AlarmState.ACTIVE_UNACK:
                    continue
                clock = c.execute(
                    "SELECT revision, transition, since FROM escalation_clocks WHERE alarm_id = ?", (alarm.id,)
                ).fetchone()
                if clock is None:  # created before this queue existed: its wait began when it started
                    revision, transition, since = 0, Transition.CREATED, alarm.started_at.timestamp()
                else:
                    revision, transition, since = int(clock[0]), Transition(clock[1]), float(clock[2])
                if alarm.revision < revision:
                    continue  # an older copy of the alarm than the one that started the wait
                for key, route in routes:
                    assert route.escalate_after_s is not None
                    if not route.selects(alarm) or at - since < route.escalate_after_s:
                        continue
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
        self._wake_targets(queued)
        return len(queued)

    # -- inspection ---------------------------------------------------------------------------------------
    def stats(self) -> dict[str, TargetStats]:
        """Per target: sent, failed and retried since start; pending rows and the age of the oldest."""
        now = time.time()
        with self._lock:
            rows = (
                self._database()
                .conn.execute(
                    "SELECT target, count(*), min(created) FROM deliveries WHERE status = ? GROUP BY target", (PENDING,)
                )
                .fetchall()
            )
        out = {name: TargetStats(s.sent, s.failed, s.retried) for name, s in self._counters.items()}
        for target, count, oldest in rows:
            stats = out.setdefault(target, TargetStats())
            stats.pending = int(count)
            stats.oldest_pending_s = max(0.0, now - float(oldest))
        return out

    def deliveries(self, status: str | None = None, target: str | None = None, limit: int = 100) -> list[Delivery]:
        """Queue rows, newest first, optionally of one status and target (e.g. the failed ones for an API)."""
        sql = (
            "SELECT id, target, notification_id, alarm_id, status, attempts, created, next_at, done_at, last_error "
            "FROM deliveries WHERE (? IS NULL OR status = ?) AND (? IS NULL OR target = ?) ORDER BY id DESC LIMIT ?"
        )
        with self._lock:
            rows = self._database().conn.execute(sql, (status, status, target, target, limit)).fetchall()
        return [Delivery(*row) for row in rows]

    def metric_lines(self, prefix: str = "iocgw_hub_notify") -> list[str]:
        """The stats in Prometheus text format, labelled by target."""
        stats = self.stats()
        series = (
            ("sent_total", "counter", "Notifications delivered", "sent"),
            ("failed_total", "counter", "Notifications given up (not retryable, or past max_age_s)", "failed"),
            ("retried_total", "counter", "Failed attempts that will be retried", "retried"),
            ("pending", "gauge", "Notifications waiting for delivery", "pending"),
            ("oldest_pending_seconds", "gauge", "Age of the oldest waiting notification", "oldest_pending_s"),
        )
        lines: list[str] = []
        for suffix, kind, help_text, attr in series:
            lines += [f"# HELP {prefix}_{suffix} {help_text}", f"# TYPE {prefix}_{suffix} {kind}"]
            lines += [f'{prefix}_{suffix}{{target="{t}"}} {getattr(s, attr)}' for t, s in sorted(stats.items())]
        return lines

    async def drain(self, timeout: float) -> bool:
        """Wait until no configured target has pending rows; False if some are still pending after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            self._progress.clear()
            if await asyncio.to_thread(self._pending_count) == 0:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._progress.wait()

    # -- queue helpers (blocking: the caller's thread, or a to_thread worker for the loop) ----------------
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
        with self._lock, transaction(self._database()) as c:
            yield c

    @contextlib.contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        """New work: refused once close() has begun."""
        if self._closed:
            raise RuntimeError("dispatcher is closed")
        with self._write() as c:
            yield c

    def _routed(self, alarm: Alarm, transition: Transition) -> list[str]:
        targets: list[str] = []
        for route in self.config.routes:
            if route.matches(alarm, transition):
                targets += [t for t in route.targets if t not in targets]
        return targets

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

    def _track_escalation_clock(self, c: sqlite3.Connection, alarm: Alarm, transition: Transition) -> None:
        if transition in (Transition.CREATED, Transition.ESCALATED):
            c.execute(
                "INSERT OR REPLACE INTO escalation_clocks VALUES (?, ?, ?, ?)",
                (alarm.id, alarm.revision, transition.value, alarm.updated_at.timestamp()),
            )
        elif transition is Transition.CLEARED:
            c.execute("DELETE FROM escalation_clocks WHERE alarm_id = ?", (alarm.id,))
            c.execute("DELETE FROM escalations WHERE alarm_id = ?", (alarm.id,))

    def _wake_targets(self, targets: Iterable[str]) -> None:
        names = {t for t in targets if t in self._wake}
        loop = self._loop
        if not names or loop is None:
            return  # not started: the workers find the rows when they start
        if threading.get_ident() == self._loop_thread:
            self._set_wake(names)
        else:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the rows wait for the next start
                loop.call_soon_threadsafe(self._set_wake, names)

    def _set_wake(self, names: set[str]) -> None:
        for name in names:
            self._wake[name].set()

    def _pending_count(self) -> int:
        marks = ",".join("?" * len(self.notifiers))
        with self._lock:
            row = (
                self._database()
                .conn.execute(
                    f"SELECT count(*) FROM deliveries WHERE status = ? AND target IN ({marks})",
                    (PENDING, *self.notifiers),
                )
                .fetchone()
            )
        return int(row[0])

    def _head(self, target: str) -> _Row | None:
        with self._lock:
            row = (
                self._database()
                .conn.execute(
                    "SELECT id, target, attempts, created, next_at, payload FROM deliveries "
                    "WHERE target = ? AND status = ? ORDER BY id LIMIT 1",
                    (target, PENDING),
                )
                .fetchone()
            )
        return None if row is None else _Row(*row)

    def _mark_done(self, row_id: int, status: str, error: str | None, attempted: bool) -> None:
        with self._write() as c:
            c.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + ?, done_at = ?, last_error = ? WHERE id = ?",
                (status, int(attempted), time.time(), error, row_id),
            )

    def _mark_retry(self, row_id: int, attempts: int, next_at: float, error: str) -> None:
        with self._write() as c:
            c.execute(
                "UPDATE deliveries SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?",
                (attempts, next_at, error, row_id),
            )

    # -- a row's outcome (the loop: counters and events belong to it) -------------------------------------
    async def _finish(self, row: _Row, status: str, error: str | None, attempted: bool = True) -> None:
        await asyncio.to_thread(self._mark_done, row.id, status, error, attempted)
        stats = self._counters.setdefault(row.target, TargetStats())
        if status == SENT:
            stats.sent += 1
        else:
            stats.failed += 1
            log.warning("notification to %s failed for good (row %d): %s", row.target, row.id, error)
        self._progress.set()
        if time.time() - self._pruned_at > _PRUNE_EVERY_S:
            await asyncio.to_thread(self._prune)

    async def _failed_attempt(self, row: _Row, error: str, retryable: bool, retry_after_s: float | None) -> None:
        now = time.time()
        deadline = row.created + self.config.max_age_s
        if not retryable or now >= deadline:
            await self._finish(row, FAILED, error if not retryable else f"{error} (gave up after max_age_s)")
            return
        attempts = row.attempts + 1
        delay = retry_after_s if retry_after_s is not None else self._backoff(attempts)
        next_at = min(now + delay, deadline)  # a last try at the deadline rather than none
        await asyncio.to_thread(self._mark_retry, row.id, attempts, next_at, error)
        self._counters[row.target].retried += 1
        log.info("notification to %s failed (attempt %d), retrying in %.1f s: %s", row.target, attempts, delay, error)

    def _backoff(self, attempts: int) -> float:
        """Doubling delay with 'equal jitter': at least half of it, so retries of many rows spread out."""
        full = min(self.config.retry_max_s, self.config.retry_initial_s * 2 ** min(attempts - 1, 32))
        return full / 2 + self._random.uniform(0, full / 2)

    def _fail_orphans(self) -> list[tuple[str, int]]:
        """Pending rows of targets no longer in the config are marked failed, so they are counted, not lost."""
        marks = ",".join("?" * len(self.notifiers))
        with self._write() as c:
            orphans = c.execute(
                f"SELECT target, count(*) FROM deliveries WHERE status = ? AND target NOT IN ({marks}) GROUP BY target",
                (PENDING, *self.notifiers),
            ).fetchall()
            c.execute(
                f"UPDATE deliveries SET status = ?, done_at = ?, last_error = 'target no longer configured' "
                f"WHERE status = ? AND target NOT IN ({marks})",
                (FAILED, time.time(), PENDING, *self.notifiers),
            )
        return [(str(target), int(count)) for target, count in orphans]

    def _prune(self) -> None:
        now = time.time()
        with self._write() as c:
            c.execute("DELETE FROM deliveries WHERE status = ? AND done_at < ?", (SENT, now - self.config.keep_sent_s))
            c.execute(
                "DELETE FROM deliveries WHERE status = ? AND done_at < ?", (FAILED, now - self.config.keep_failed_s)
            )
        self._pruned_at = now

    # -- the worker ---------------------------------------------------------------------------------------
    async def _start_notifier(self, notifier: Notifier, guard_s: float) -> bool:
        try:
            async with asyncio.timeout(guard_s):
                await notifier.start()
            return True
        except Exception as exc:  # a target that cannot start now may start later; others are unaffected
            log.warning("notify target %s did not start: %s", notifier.name, exc)
            with contextlib.suppress(Exception):
                await notifier.close()
            return False

    async def _nap(self, wake: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await wake.wait()

    async def _work(self, name: str) -> None:
        notifier = self.notifiers[name]
        # Notifiers keep to timeout_s themselves; this guard only stops a broken one from hanging its worker.
        guard_s = 2 * notifier.config.timeout_s + 1
        delay = self.config.retry_initial_s
        while not self._closed and not await self._start_notifier(notifier, guard_s):
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.retry_max_s)
        wake = self._wake[name]
        while not self._closed:
            wake.clear()  # before reading, so a row written after the read still wakes us
            row = await asyncio.to_thread(self._head, name)
            if row is None:
                await wake.wait()
                continue
            now = time.time()
            if row.next_at > now:
                await self._nap(wake, row.next_at - now)
                continue
            if row.attempts == 0 and now - row.created >= self.config.max_age_s:
                await self._finish(
                    row, FAILED, "expired before the first attempt (queued longer than max_age_s)", False
                )
                continue
            try:
                notification = Notification.model_validate_json(row.payload)
            except ValidationError as exc:
                await self._finish(row, FAILED, f"unreadable queue row: {exc}", False)
                continue
            await self._buckets[name].acquire()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that races
                # with the send finishing, and close() would then wait for this worker forever.
                async with asyncio.timeout(guard_s):
                    await notifier.send(notification)
            except NotifyError as exc:
                await self._failed_attempt(row, str(exc), exc.retryable, exc.retry_after_s)
            except TimeoutError:
                await self._failed_attempt(row, f"no result within {guard_s:g} s", True, None)
            except Exception as exc:  # a notifier bug must not end the worker: the row is retried
                log.exception("notify target %s raised", name)
                await self._failed_attempt(row, f"{type(exc).__name__}: {exc}", True, None)
            else:
                await self._finish(row, SENT, None)
