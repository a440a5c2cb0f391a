"""The dispatcher's delivery queue in PostgreSQL, shared by the hubs of design (iii) (docs/scaling-alerts-design.md).

When the alert-engine leader changes hands, the new leader re-submits the alarm events its predecessor had not
marked dispatched, and the old leader may have left deliveries in flight. Three things make every alarm transition
reach every target once, whichever hub sends it:

- **One row per (notification id, target)**, unique in the table. The notification id is ``<alarm id>.<revision>.
  <transition>`` (or ``<alarm id>.escalation.<revision>.<route>``), the same key as the store's outbox
  (``alarm_events``, unique per alarm, revision and transition), computed from the alarm, not from a hub: a new
  leader re-submitting an event already queued inserts nothing (``ON CONFLICT DO NOTHING``), and two hubs submitting
  it at once insert one row between them.
- **A claim with a lease before each attempt** (``claimed_by``, ``claimed_until``, on the database's clock, so the
  hubs' clocks do not matter). A worker sends a row only after claiming it; another dispatcher's worker that finds
  its target's oldest row claimed waits (it does not skip ahead: a target's rows go out in order) until the outcome
  is recorded or the lease has run out. A row claimed by a hub that died is therefore sent again by another hub,
  but only after the lease: the dead hub's attempt had ``guard_s`` (2 x the target's ``timeout_s`` + 1 s) to finish,
  and the lease is that plus ``lease_margin_s``.
- **Outcomes as in SQLite**: sent, failed, retry at; the claim is released with the outcome. An outcome of a hub
  whose lease has run out does not overwrite another hub's live claim, except "sent", which is the truth. A claim
  is refused on a row that changed since the worker read it (another hub retried it: its ``attempts`` moved on).
  A clean ``close()`` releases this dispatcher's claims (its attempts in flight were abandoned), so the next hub does
  not wait for the leases; only a hub that dies leaves them to run out.

**The one remaining duplicate window.** A hub that sent a notification and died (or was cut off from PostgreSQL)
before recording "sent" leaves the row pending and claimed; after the lease another hub sends it again. So delivery
*at the channel* stays at least once, with at most the messages in flight at the crash repeated (one per target).
The idempotency key that lets a receiver drop the repeat already exists and is stable across hubs, since it is
the notification id, computed from the alarm: the webhook's ``X-Iocgw-Delivery`` header and the JSON payload's
``id`` (webhook and MQTT; MQTT's retained topic also simply ends in the same state), and the e-mail's
``X-Iocgw-Notification`` header (its Message-ID is not stable, so a mail client shows the repeat as a second mail).
Grafana annotations carry no key: a repeat is a second annotation. Nothing was added for this: the PG path sends
exactly what the SQLite path sends. The same repeat happens if a hub alive but stalled past its lease (a long GC or
VM pause) finishes its send late, or if its connection to PostgreSQL breaks between sending and recording (it sends
again itself once reconnected). Closing the window entirely would need the channel to take part in the transaction,
which none of them can.

Workers look at the queue every ``poll_s`` when idle, since another hub's submit does not wake them (a leader's
own submit does, at once). Connection: one, autocommit, every write one transaction, a lock keeping one statement
or transaction on it at a time; a broken connection is replaced on the next call (the row it was working on stays
claimed by this dispatcher, which takes it up again; the others wait for the lease).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from hub.alerts.alarm import Alarm, AlarmState, Transition
from hub.alerts.notify.base import Notification
from hub.alerts.notify.delivery_queue import (
    FAILED,
    PENDING,
    SENT,
    Delivery,
    DeliveryQueue,
    QueuedRow,
    due_escalations,
)
from hub.pg import conninfo, create_schema

if TYPE_CHECKING:
    from hub.alerts.notify.config import Route

log = logging.getLogger(__name__)

DEFAULT_SCHEMA = "iocgw_alerts"  # next to PgAlertStore's outbox

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS deliveries (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        target TEXT NOT NULL,
        notification_id TEXT NOT NULL,
        alarm_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created DOUBLE PRECISION NOT NULL,
        next_at DOUBLE PRECISION NOT NULL,
        done_at DOUBLE PRECISION,
        last_error TEXT,
        claimed_by TEXT,
        claimed_until TIMESTAMPTZ,
        UNIQUE (target, notification_id))""",
    "CREATE INDEX IF NOT EXISTS deliveries_queue ON deliveries (target, id) WHERE status = 'pending'",
    "CREATE INDEX IF NOT EXISTS deliveries_alarm ON deliveries (alarm_id)",
    """CREATE TABLE IF NOT EXISTS escalation_clocks (
        alarm_id TEXT PRIMARY KEY, revision INTEGER NOT NULL, transition TEXT NOT NULL,
        since DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS escalations (
        alarm_id TEXT NOT NULL, revision INTEGER NOT NULL, route TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (alarm_id, revision, route))""",
]

# Another dispatcher's claim still running: the head row is busy for the seconds it has left.
_HEAD = """SELECT id, target, attempts, created, next_at, payload,
    CASE WHEN claimed_by IS NOT NULL AND claimed_by <> %(me)s AND claimed_until > clock_timestamp()
         THEN extract(epoch FROM claimed_until - clock_timestamp())::float8 ELSE 0 END
    FROM deliveries WHERE target = %(target)s AND status = 'pending' ORDER BY id LIMIT 1"""

# The row is still pending, as the worker read it (same attempts: nobody retried it meanwhile), and nobody else holds
# a live claim. Under READ COMMITTED a second claimer blocks on the row lock, then re-checks this on the new version
# and updates nothing.
_CLAIM = """UPDATE deliveries
    SET claimed_by = %(me)s, claimed_until = clock_timestamp() + make_interval(secs => %(lease)s)
    WHERE id = %(id)s AND status = 'pending' AND attempts = %(attempts)s
      AND (claimed_by IS NULL OR claimed_by = %(me)s OR claimed_until <= clock_timestamp())"""

_NOT_ANOTHERS = "(claimed_by IS NULL OR claimed_by = %(me)s OR claimed_until <= clock_timestamp())"


class PgQueue:
    """A ``DeliveryQueue`` in PostgreSQL that several dispatchers (hubs) may share.

    ``dsn``: libpq connection string or URI; ``schema``: where the tables live (created if missing); ``owner``: this
    dispatcher's name in ``claimed_by`` (default: a fresh random one per queue object, so a restarted hub does not
    mistake its predecessor's claims for its own); ``lease_margin_s``: added to each attempt's ``guard_s`` for the
    lease; ``poll_s``: how often idle workers look for rows other hubs added.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        owner: str | None = None,
        lease_margin_s: float = 5.0,
        poll_s: float = 1.0,
        application_name: str = "iocgw-notify",
    ) -> None:
        self._dsn = conninfo(dsn, application_name)
        self.schema = schema
        self.owner = owner or f"dispatcher-{uuid.uuid4().hex[:12]}"
        self.lease_margin_s = lease_margin_s
        self.idle_poll_s: float | None = poll_s
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False
        with self._lock:
            self._connection()  # the tables exist once the constructor returns

    # -- the connection (the caller holds the lock) -----------------------------------------------------
    def _connection(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise RuntimeError("dispatcher is closed")
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self._conn = None
        if self._conn is None:
            conn = psycopg.connect(self._dsn, autocommit=True)
            create_schema(conn, self.schema, SCHEMA)
            self._conn = conn
        return self._conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._lock:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                yield cur

    def _read(self, query: str, args: dict[str, Any] | tuple[Any, ...]) -> list[Any]:
        with self._lock:
            return self._connection().execute(query, args).fetchall()

    def close(self) -> None:
        """Release this dispatcher's claims (close() abandoned its attempts in flight: the rows are pending again,
        for the next start or another hub, without waiting for the leases) and close the connection."""
        with self._lock:
            if self._conn is not None and not self._closed:
                with contextlib.suppress(psycopg.Error):  # a lost connection: the leases run out by themselves
                    self._conn.execute(
                        "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL "
                        "WHERE claimed_by = %s AND status = 'pending'",
                        (self.owner,),
                    )
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def release_others(self) -> int:
        """Release every other dispatcher's claims on pending rows; how many. For a dispatcher that is the only one
        sending (the cluster's alert leader, hub/alerts/cluster.py): when it starts, the claims left are a dead
        leader's (a leader that steps down closes its dispatcher, releasing its own, before its lock is free), and
        waiting out their leases would hold each target's queue that long."""
        with self._tx() as c:
            c.execute(
                "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL "
                "WHERE claimed_by IS NOT NULL AND claimed_by <> %s AND status = 'pending'",
                (self.owner,),
            )
            return c.rowcount

    # -- new rows ---------------------------------------------------------------------------------------
    def enqueue(
        self, alarm: Alarm, transition: Transition, targets: list[str], configured: Collection[str], when: datetime
    ) -> list[str]:
        with self._tx() as c:
            if transition is Transition.CLEARED:
                told = {
                    r[0] for r in c.execute("SELECT DISTINCT target FROM deliveries WHERE alarm_id = %s", (alarm.id,))
                }
                targets = targets + [t for t in configured if t in told and t not in targets]
            queued = self._insert(c, [Notification.make(alarm, transition, t, when) for t in targets])
            if transition in (Transition.CREATED, Transition.ESCALATED):
                # Never back to an older revision: a new leader re-submitting an old event must not restart a wait.
                c.execute(
                    "INSERT INTO escalation_clocks AS e (alarm_id, revision, transition, since) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (alarm_id) DO UPDATE SET revision = excluded.revision, "
                    "transition = excluded.transition, since = excluded.since WHERE e.revision <= excluded.revision",
                    (alarm.id, alarm.revision, transition.value, alarm.updated_at.timestamp()),
                )
            elif transition is Transition.CLEARED:
                c.execute("DELETE FROM escalation_clocks WHERE alarm_id = %s", (alarm.id,))
                c.execute("DELETE FROM escalations WHERE alarm_id = %s", (alarm.id,))
        return queued

    def escalate(self, alarms: Iterable[Alarm], routes: list[tuple[str, Route]], now: datetime) -> list[str]:
        at = now.timestamp()
        queued: list[str] = []
        with self._tx() as c:
            for alarm in alarms:
                if alarm.state is not AlarmState.ACTIVE_UNACK:
                    continue
                row = c.execute(
                    "SELECT revision, transition, since FROM escalation_clocks WHERE alarm_id = %s", (alarm.id,)
                ).fetchone()
                clock = None if row is None else (int(row[0]), Transition(row[1]), float(row[2]))
                revision, transition, due = due_escalations(alarm, clock, routes, at)
                for key, route in due:
                    c.execute(
                        "INSERT INTO escalations (alarm_id, revision, route, at) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT DO NOTHING RETURNING 1",
                        (alarm.id, revision, key, at),
                    )
                    if c.fetchone() is None:
                        continue  # done before, by this hub or another
                    notes = [
                        Notification.make(alarm, transition, t, now, escalation_key=f"{revision}.{key}")
                        for t in route.escalate_to
                    ]
                    queued += self._insert(c, notes)
                    log.info("escalating %s %s (%s) to %s", alarm.rule, alarm.subject, alarm.id, route.escalate_to)
        return queued

    @staticmethod
    def _insert(c: psycopg.Cursor[Any], notes: list[Notification]) -> list[str]:
        """Rows for the notifications not queued before (by any hub); the targets of those inserted."""
        now = time.time()
        inserted = []
        for note in notes:
            c.execute(
                "INSERT INTO deliveries (target, notification_id, alarm_id, payload, status, created, next_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (target, notification_id) DO NOTHING RETURNING id",
                (note.target, note.id, note.alarm.id, note.model_dump_json(), PENDING, now, now),
            )
            if c.fetchone() is not None:
                inserted.append(note.target)
        return inserted

    # -- reading ----------------------------------------------------------------------------------------
    def pending_by_target(self) -> list[tuple[str, int, float]]:
        rows = self._read(
            "SELECT target, count(*), min(created) FROM deliveries WHERE status = %s GROUP BY target", (PENDING,)
        )
        return [(str(t), int(n), float(o)) for t, n, o in rows]

    def deliveries(self, status: str | None, target: str | None, limit: int) -> list[Delivery]:
        query = (
            "SELECT id, target, notification_id, alarm_id, status, attempts, created, next_at, done_at, last_error "
            "FROM deliveries WHERE (%(status)s::text IS NULL OR status = %(status)s) "
            "AND (%(target)s::text IS NULL OR target = %(target)s) ORDER BY id DESC LIMIT %(limit)s"
        )
        rows = self._read(query, {"status": status, "target": target, "limit": limit})
        return [Delivery(*row) for row in rows]

    def pending_count(self, targets: Collection[str]) -> int:
        rows = self._read(
            "SELECT count(*) FROM deliveries WHERE status = %s AND target = ANY(%s)", (PENDING, list(targets))
        )
        return int(rows[0][0])

    # -- a worker's row ---------------------------------------------------------------------------------
    def head(self, target: str) -> QueuedRow | None:
        rows = self._read(_HEAD, {"me": self.owner, "target": target})
        if not rows:
            return None
        row_id, tgt, attempts, created, next_at, payload, busy = rows[0]
        return QueuedRow(int(row_id), tgt, int(attempts), float(created), float(next_at), payload, float(busy))

    def claim(self, row: QueuedRow, lease_s: float) -> bool:
        lease = lease_s + self.lease_margin_s
        with self._tx() as c:
            c.execute(_CLAIM, {"me": self.owner, "lease": lease, "id": row.id, "attempts": row.attempts})
            return c.rowcount == 1

    def mark_done(self, row_id: int, status: str, error: str | None, attempted: bool) -> None:
        # "sent" is recorded whoever holds the claim (it is what happened); "failed" not over another's live claim.
        query = (
            "UPDATE deliveries SET status = %(status)s, attempts = attempts + %(attempted)s, done_at = %(now)s, "
            "last_error = %(error)s, claimed_by = NULL, claimed_until = NULL "
            f"WHERE id = %(id)s AND status = 'pending' AND (%(status)s = 'sent' OR {_NOT_ANOTHERS})"
        )
        args = {"status": status, "attempted": int(attempted), "now": time.time(), "error": error, "id": row_id}
        with self._tx() as c:
            c.execute(query, {**args, "me": self.owner})

    def mark_retry(self, row_id: int, attempts: int, next_at: float, error: str) -> None:
        query = (
            "UPDATE deliveries SET attempts = %(attempts)s, next_at = %(next_at)s, last_error = %(error)s, "
            f"claimed_by = NULL, claimed_until = NULL WHERE id = %(id)s AND status = 'pending' AND {_NOT_ANOTHERS}"
        )
        with self._tx() as c:
            c.execute(query, {"attempts": attempts, "next_at": next_at, "error": error, "id": row_id, "me": self.owner})

    # -- housekeeping -----------------------------------------------------------------------------------
    def fail_orphans(self, configured: Collection[str]) -> list[tuple[str, int]]:
        """As in SQLite; with several hubs, give them the same targets (a hub would fail another's)."""
        with self._tx() as c:
            c.execute(
                "UPDATE deliveries SET status = %s, done_at = %s, last_error = 'target no longer configured', "
                "claimed_by = NULL, claimed_until = NULL WHERE status = %s AND NOT (target = ANY(%s)) RETURNING target",
                (FAILED, time.time(), PENDING, list(configured)),
            )
            counts: dict[str, int] = {}
            for (target,) in c.fetchall():
                counts[str(target)] = counts.get(str(target), 0) + 1
        return sorted(counts.items())

    def prune(self, keep_sent_s: float, keep_failed_s: float) -> None:
        now = time.time()
        with self._tx() as c:
            c.execute("DELETE FROM deliveries WHERE status = %s AND done_at < %s", (SENT, now - keep_sent_s))
            c.execute("DELETE FROM deliveries WHERE status = %s AND done_at < %s", (FAILED, now - keep_failed_s))

    def claims(self) -> list[tuple[int, str | None, float | None]]:
        """(row id, claimed_by, seconds its lease has left, negative once run out) of the pending rows, oldest first:
        for inspection and tests."""
        return [
            (int(i), b, None if s is None else float(s))
            for i, b, s in self._read(
                "SELECT id, claimed_by, extract(epoch FROM claimed_until - clock_timestamp())::float8 "
                "FROM deliveries WHERE status = 'pending' ORDER BY id",
                (),
            )
        ]


if TYPE_CHECKING:  # mypy checks that both queues keep the one interface
    from hub.alerts.notify.delivery_queue import SqliteQueue

    def _both_are_queues(sqlite: SqliteQueue, pg: PgQueue) -> list[DeliveryQueue]:
        return [sqlite, pg]
