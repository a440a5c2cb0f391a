"""Durable delivery of alarm notifications: a queue, one worker per target, retries, rate limits, escalation.

Every notification is a row (one per alarm change and target) written before anything is sent, and stays until
it is delivered or marked failed, so a hub restart resends what was pending. Each target has its own worker that
sends its rows oldest first, one at a time: a target that is down or slow holds up only its own rows, and an
older state of an alarm never arrives after a newer one (which matters for retained MQTT topics).

The queue is a ``DeliveryQueue`` (delivery_queue.py): one hub's SQLite file by default, or ``PgQueue``
(pg_queue.py) in PostgreSQL, where several dispatchers may share it and a worker claims a row with a lease before
sending it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from hub.alerts.alarm import Alarm, Transition
from hub.alerts.notify.base import Notification, Notifier, NotifyError
from hub.alerts.notify.config import NotifyConfig
from hub.alerts.notify.delivery_queue import (
    FAILED,
    SENT,
    Delivery,
    DeliveryQueue,
    QueuedRow,
    SqliteQueue,
)
from hub.alerts.notify.ratelimit import TokenBucket
from hub.alerts.notify.registry import build_notifier

log = logging.getLogger(__name__)

_PRUNE_EVERY_S = 3600.0


@dataclass
class TargetStats:
    """Counters since this dispatcher started (sent, failed, retried) and the queue as it is now."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    pending: int = 0
    oldest_pending_s: float = 0.0


class Dispatcher:
    """Routes alarm changes to targets and delivers them durably.

    Lifecycle: ``Dispatcher(config, db_path)`` (no I/O: the queue file is opened on first use) or
    ``Dispatcher(config, queue=PgQueue(...))``, ``await start()``
    on the hub's event loop, then ``submit`` and ``check_escalations`` as alarms change, ``await close()`` at
    shutdown (rows not yet delivered stay pending and go out after the next start; the dispatcher closes its
    queue). Delivery is at least once: receivers drop duplicates by notification id. Several dispatchers (hubs) may
    share a ``PgQueue``: each row still goes out once, except one a hub was sending when it died (pg_queue.py).

    One concurrency model: the workers are asyncio tasks on the hub's loop, and everything that blocks runs in a
    worker thread (``asyncio.to_thread``): the queue's statements here, the SMTP exchange and the wait for
    an MQTT PUBACK in the notifiers. The only callers from another thread are ``submit`` and
    ``check_escalations`` (the hub's ingest writer thread, through the alert engine): synchronous, they only write
    rows and wake the workers with ``loop.call_soon_threadsafe``, never waiting for a target. ``stats`` and
    ``deliveries`` are synchronous reads: the hub calls them off the loop (/metrics does).
    """

    def __init__(
        self, config: NotifyConfig, db_path: Path | str | None = None, *, queue: DeliveryQueue | None = None
    ) -> None:
        if (db_path is None) == (queue is None):
            raise ValueError("give the dispatcher a db_path (SQLite) or a queue, not both")
        self.config = config
        self.db_path = Path(db_path) if db_path is not None else None  # the SQLite queue's file, if that is the queue
        self.queue: DeliveryQueue = queue if queue is not None else SqliteQueue(Path(db_path or ""))
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
        await asyncio.to_thread(self.queue.close)

    # -- accepting work (any thread) ----------------------------------------------------------------------
    def submit(self, alarm: Alarm, transition: Transition, now: datetime | None = None) -> int:
        """Queue this change for every target its routes select; returns how many deliveries were queued.

        A clear also goes to every target that was told about the alarm before (escalation targets included),
        so whoever heard about an alarm hears that it ended. Submitting the same change twice queues nothing
        the second time.
        """
        when = now or datetime.now(UTC)
        targets = self._routed(alarm, transition)
        self._refuse_if_closed()
        queued = self.queue.enqueue(alarm, transition, targets, list(self.notifiers), when)
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
        self._refuse_if_closed()
        queued = self.queue.escalate(active_alarms, routes, now)
        self._wake_targets(queued)
        return len(queued)

    # -- inspection ---------------------------------------------------------------------------------------
    def stats(self) -> dict[str, TargetStats]:
        """Per target: sent, failed and retried since start; pending rows and the age of the oldest."""
        now = time.time()
        rows = self.queue.pending_by_target()
        out = {name: TargetStats(s.sent, s.failed, s.retried) for name, s in self._counters.items()}
        for target, count, oldest in rows:
            stats = out.setdefault(target, TargetStats())
            stats.pending = int(count)
            stats.oldest_pending_s = max(0.0, now - float(oldest))
        return out

    def deliveries(self, status: str | None = None, target: str | None = None, limit: int = 100) -> list[Delivery]:
        """Queue rows, newest first, optionally of one status and target (e.g. the failed ones for an API)."""
        return self.queue.deliveries(status, target, limit)

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

    # -- helpers ----------------------------------------------------------------------------------------
    def _refuse_if_closed(self) -> None:
        """New work is refused once close() has begun."""
        if self._closed:
            raise RuntimeError("dispatcher is closed")

    def _routed(self, alarm: Alarm, transition: Transition) -> list[str]:
        targets: list[str] = []
        for route in self.config.routes:
            if route.matches(alarm, transition):
                targets += [t for t in route.targets if t not in targets]
        return targets

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
        return self.queue.pending_count(list(self.notifiers))

    # -- a row's outcome (the loop: counters and events belong to it) -------------------------------------
    async def _finish(self, row: QueuedRow, status: str, error: str | None, attempted: bool = True) -> None:
        await asyncio.to_thread(self.queue.mark_done, row.id, status, error, attempted)
        stats = self._counters.setdefault(row.target, TargetStats())
        if status == SENT:
            stats.sent += 1
        else:
            stats.failed += 1
            log.warning("notification to %s failed for good (row %d): %s", row.target, row.id, error)
        self._progress.set()
        if time.time() - self._pruned_at > _PRUNE_EVERY_S:
            await asyncio.to_thread(self._prune)

    async def _failed_attempt(self, row: QueuedRow, error: str, retryable: bool, retry_after_s: float | None) -> None:
        now = time.time()
        deadline = row.created + self.config.max_age_s
        if not retryable or now >= deadline:
            await self._finish(row, FAILED, error if not retryable else f"{error} (gave up after max_age_s)")
            return
        attempts = row.attempts + 1
        delay = retry_after_s if retry_after_s is not None else self._backoff(attempts)
        next_at = min(now + delay, deadline)  # a last try at the deadline rather than none
        await asyncio.to_thread(self.queue.mark_retry, row.id, attempts, next_at, error)
        self._counters[row.target].retried += 1
        log.info("notification to %s failed (attempt %d), retrying in %.1f s: %s", row.target, attempts, delay, error)

    def _backoff(self, attempts: int) -> float:
        """Doubling delay with 'equal jitter': at least half of it, so retries of many rows spread out."""
        full = min(self.config.retry_max_s, self.config.retry_initial_s * 2 ** min(attempts - 1, 32))
        return full / 2 + self._random.uniform(0, full / 2)

    def _fail_orphans(self) -> list[tuple[str, int]]:
        """Pending rows of targets no longer in the config are marked failed, so they are counted, not lost."""
        return self.queue.fail_orphans(list(self.notifiers))

    def _prune(self) -> None:
        now = time.time()
        self.queue.prune(self.config.keep_sent_s, self.config.keep_failed_s)
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

    async def _due_head(self, name: str, wake: asyncio.Event) -> QueuedRow | None:
        """The target's oldest pending row once it is due; None after a wait (the caller looks again)."""
        poll = self.queue.idle_poll_s  # None: only this hub adds rows, and its submit wakes us
        wake.clear()  # before reading, so a row written after the read still wakes us
        row = await asyncio.to_thread(self.queue.head, name)
        if row is None:
            if poll is None:
                await wake.wait()
            else:
                await self._nap(wake, poll)
            return None
        if row.busy_s > 0:
            # Another dispatcher on the queue is sending it: wait for its outcome or the end of its lease, never
            # skipping ahead (rows of a target go out in order).
            await self._nap(wake, row.busy_s if poll is None else min(row.busy_s, poll))
            return None
        now = time.time()
        if row.next_at > now:
            await self._nap(wake, row.next_at - now)
            return None
        return row

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
            try:
                await self._attempt_next(name, notifier, wake, guard_s)
            except Exception:  # the queue failed (e.g. a lost PostgreSQL connection): look again after a pause
                log.exception("notify target %s: the queue failed", name)
                await self._nap(wake, self.config.retry_max_s)

    async def _attempt_next(self, name: str, notifier: Notifier, wake: asyncio.Event, guard_s: float) -> None:
        """One step of a worker: wait for the head row to be due, then one attempt at it (or its expiry)."""
        row = await self._due_head(name, wake)
        if row is None:
            return
        now = time.time()
        if row.attempts == 0 and now - row.created >= self.config.max_age_s:
            await self._finish(row, FAILED, "expired before the first attempt (queued longer than max_age_s)", False)
            return
        try:
            notification = Notification.model_validate_json(row.payload)
        except ValidationError as exc:
            await self._finish(row, FAILED, f"unreadable queue row: {exc}", False)
            return
        await self._buckets[name].acquire()
        # Claimed for one attempt: on a shared queue the lease (at least guard_s) keeps other dispatchers off it
        # while this one sends, and lets one of them retry it once the lease has run out if this hub died.
        # False: another dispatcher took it or finished it meanwhile.
        if not await asyncio.to_thread(self.queue.claim, row, guard_s):
            return
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that races with the
            # send finishing, and close() would then wait for this worker forever.
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
