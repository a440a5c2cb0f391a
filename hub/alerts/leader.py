"""Who runs the alert engine when several hubs share the work: one leader, hot standbys, a fencing epoch.

Design (iii) of docs/scaling-alerts-design.md (issue 17). Leadership is a PostgreSQL session-level advisory lock,
``pg_try_advisory_lock(ALERT_LEADER_KEY)``, held on a connection of its own; a lock of that kind lives exactly as
long as the session that took it, so a dead leader's lock goes with its session, and nothing of ours has to expire
it. Each new leader increments the ``epoch`` of the row ``leadership(key = ALERT_LEADER_KEY)`` in the same session,
right after taking the lock; other writers (the engine's commits, the outbox senders) put ``Leadership.check`` (or
``fence`` with a saved epoch) first in their transactions, and that statement fails once a later leader has taken
over, so a leader that stopped being one (paused, cut off) cannot commit.

``AlertLeadership`` runs a blocking loop in a thread of its own (``alert-leadership``); nothing here touches an
event loop. As a standby it retries the lock every ``poll_s``; as the leader it probes its session every
``probe_s`` (reading the epoch back) and wakes at once when the server closes the connection. Its belief is
bounded by that session, never by a timer alone:

- the connection breaks (server gone, session terminated, network cut): leadership ends at once, ``on_loss``;
- ``is_leader`` is only true while the last successful probe was sent less than ``lease_s`` ago, so even a thread
  stuck in a call to a server that no longer answers stops claiming to lead within ``lease_s``;
- ``stop()``: ``on_loss`` first (the consumer stops writing), then the lock is released, then the session closed.

Numbers, and why they are safe (TCP connections; a unix socket has no such failure modes):

- The server ends a silent peer's session (its host died, or the network between them did) through the session's
  own TCP settings, set by this client for this session only: keepalive after 2 s idle, every 1 s, 3 unanswered
  probes (``tcp_keepalives_*``), and ``tcp_user_timeout`` 5 s for data it sent that was never acknowledged. So the
  lock of a dead host is free about 5 s after the last packet the server got from it, never sooner: with
  ``poll_s`` 0.2 s a standby leads within about 5.5 s of a host's death. A killed process's socket is closed by its
  kernel, so the server frees the lock at once: a standby leads within ``poll_s`` plus one round of statements.
- The leader probes every 0.5 s, so its session is never idle for 2 s while it lives; a probe sent at t reached
  the server at t or later, so the server cannot free the lock before t + 5 s. ``is_leader`` turns false at
  t + ``lease_s`` (2 s): a cut-off leader stops believing it leads at least 3 s before anyone else can lead.
- The client side notices a dead server or network by libpq's keepalives (1 s idle, 1 s interval, 2 probes) and
  ``tcp_user_timeout`` 2 s, then reports the loss (``on_loss``) and reconnects every ``retry_s``.

Measured (tests/hub/alerts/test_leader.py, 2-core machine, PostgreSQL 15): a clean stop hands over in 150-210 ms, a
SIGKILLed leader process is replaced in 155-220 ms (both: the standby's next ``poll_s`` try, plus about 5 ms to
bump the epoch); the leader learns that PostgreSQL was SIGKILLed within 6-11 ms, a terminated session within 5 ms.
A leader cut off from the server without a socket closing (its link down; a dead host, as the server sees it):
it stops believing after 1.8-2.0 s, reports the loss after 2.5-2.7 s, and the standby leads after 5.0-5.2 s.

The only event these bounds cannot see is the server ending the session by itself (``pg_terminate_backend``, a
crash and restart) while the network to the leader is down at that same moment: the leader then believes for up to
``lease_s`` more, and the fence still refuses its writes.

Callbacks run on the leadership thread: ``on_gain(epoch)`` after the epoch is committed, ``on_loss(epoch,
reason)`` once per gain (also when ``on_gain`` raised, which ends that leadership). A callback that blocks holds
the loop: while ``on_loss`` of a clean stop runs, the lock is still held, which is the point.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import pq

log = logging.getLogger(__name__)

# The advisory lock and the leadership row of the alert engine: the bytes "iocgalrt" read as a signed bigint.
ALERT_LEADER_KEY = int.from_bytes(b"iocgalrt", "big", signed=True)
# Serialises the schema statements of several hubs starting at once ("iocgschm"). Not hub.pg.SCHEMA_LOCK: a new
# leader takes this one on its session (lock_timeout 5 s) on the way to its epoch, and must not queue behind the
# stores' CREATE INDEX, which waits for their writers; what it creates (in public) meets nothing of theirs.
_SCHEMA_LOCK_KEY = int.from_bytes(b"iocgschm", "big", signed=True)

# The SQLSTATE with which ``leadership_fence`` refuses a stale epoch (class "IO" is free for applications).
FENCE_SQLSTATE = "IOF01"

# Server side, for the leadership session only (user-settable settings, passed at connection start): when a silent
# peer's session ends, at the earliest, after the last packet the server got from it.
SERVER_TCP_SETTINGS = {
    "tcp_keepalives_idle": "2",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "5000",
}
SERVER_RELEASE_MIN_S = 5.0  # min(idle + interval * count, user timeout)

# Client side (libpq): notice a dead server or network within about 2-3 s.
CLIENT_TCP_SETTINGS: dict[str, Any] = {
    "connect_timeout": 2,
    "keepalives": 1,
    "keepalives_idle": 1,
    "keepalives_interval": 1,
    "keepalives_count": 2,
    "tcp_user_timeout": 2000,
}

# How long the new leader's epoch increment waits for a writer still inside a fenced transaction of the old epoch
# before it gives up this try (it releases the lock and tries again).
GAIN_LOCK_TIMEOUT = "5s"

SCHEMA = """
CREATE TABLE IF NOT EXISTS public.leadership (
    key bigint PRIMARY KEY,
    epoch bigint NOT NULL,
    holder text NOT NULL,
    since timestamptz NOT NULL
);
CREATE OR REPLACE FUNCTION public.leadership_fence(lock_key bigint, our_epoch bigint) RETURNS bigint
LANGUAGE plpgsql AS $fence$
DECLARE
    stored bigint;
BEGIN
    -- FOR SHARE: a new leader's increment waits for this transaction to end, so a write fenced by the old epoch
    -- is either committed before the new epoch exists or refused.
    SELECT epoch INTO stored FROM public.leadership WHERE key = lock_key FOR SHARE;
    IF stored IS DISTINCT FROM our_epoch THEN
        RAISE EXCEPTION 'fenced: leadership % is at epoch %, this writer holds epoch %', lock_key, stored, our_epoch
            USING ERRCODE = 'IOF01';
    END IF;
    RETURN stored;
END
$fence$;
"""

Target = psycopg.Connection[Any] | psycopg.Cursor[Any]


class NotLeader(RuntimeError):
    """This hub does not (or no longer) lead: nothing may be written under its leadership."""


class StaleEpoch(NotLeader):
    """The database refused a write: a later leader's epoch is stored."""


def ensure_schema(conn: psycopg.Connection[Any]) -> None:
    """The ``leadership`` table and the ``leadership_fence`` function, in one transaction (idempotent).

    Both in the schema ``public`` by name, whatever the connection's search path: every hub's writers find them
    there (PgAlertStore's search path is its own schema, then public)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
        conn.execute(SCHEMA)


def fence(target: Target, epoch: int, key: int = ALERT_LEADER_KEY) -> None:
    """The fencing statement: raises ``StaleEpoch`` unless ``epoch`` is the stored one.

    Put it first in the writer's transaction: the row stays share-locked until that transaction ends, so no new
    leader can take over in the middle of it. Outside a transaction (autocommit, none open) it would protect
    nothing, and is refused.
    """
    conn = target if isinstance(target, psycopg.Connection) else target.connection
    if conn.autocommit and conn.info.transaction_status == pq.TransactionStatus.IDLE:
        raise ValueError("the fence must be inside the writer's transaction")
    try:
        target.execute("SELECT public.leadership_fence(%s, %s)", (key, epoch))
    except psycopg.Error as exc:
        if exc.sqlstate == FENCE_SQLSTATE:
            raise StaleEpoch(exc.diag.message_primary or str(exc)) from exc
        raise


class AlertLeadership:
    """One hub's candidacy for the alert-engine leadership (see the module's notes for the numbers).

    ``start()`` runs the loop in its thread; ``stop()`` ends it and releases the lock. The constructor touches
    nothing.
    """

    def __init__(
        self,
        dsn: str,
        hub_id: str,
        *,
        key: int = ALERT_LEADER_KEY,
        on_gain: Callable[[int], None] | None = None,
        on_loss: Callable[[int, str], None] | None = None,
        poll_s: float = 0.2,
        probe_s: float = 0.5,
        lease_s: float = 2.0,
        retry_s: float = 0.5,
    ) -> None:
        if not 0 < probe_s < lease_s <= SERVER_RELEASE_MIN_S - 1:
            raise ValueError(f"need 0 < probe_s < lease_s <= {SERVER_RELEASE_MIN_S - 1} s (see the module's notes)")
        if poll_s <= 0 or retry_s <= 0:
            raise ValueError("poll_s and retry_s must be positive")
        self.dsn = dsn
        self.hub_id = hub_id
        self.key = key
        self.on_gain = on_gain
        self.on_loss = on_loss
        self.poll_s = poll_s
        self.probe_s = probe_s
        self.lease_s = lease_s
        self.retry_s = retry_s
        self._cond = threading.Condition()
        self._leading = False
        self._epoch: int | None = None
        self._confirmed = 0.0  # monotonic time at which the last successful probe was sent
        self._stopping = threading.Event()
        self._resign: str | None = None  # step_down()'s reason, until the loop has acted on it
        self.rest_s = max(4 * poll_s, 1.0)  # after stepping down, before standing again: a standby goes first
        self._thread: threading.Thread | None = None
        self._wake_r = self._wake_w = -1

    # --- what others read -----------------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True while this hub holds the lock on a session confirmed alive less than ``lease_s`` ago."""
        with self._cond:
            return self._leading and time.monotonic() - self._confirmed < self.lease_s

    @property
    def epoch(self) -> int | None:
        """The epoch of the current leadership; None when not leading."""
        with self._cond:
            return self._epoch if self._leading else None

    def wait_leading(self, leading: bool = True, timeout: float | None = None) -> bool:
        """Wait until ``is_leader == leading``; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.is_leader != leading:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                # Woken on every change; the lease runs out without one, so look again at least every 50 ms.
                self._cond.wait(0.05 if remaining is None else min(remaining, 0.05))
            return True

    def check(self, target: Target) -> int:
        """Fence a write: raises ``NotLeader`` if this hub does not lead, ``StaleEpoch`` if the database holds a
        later epoch; returns our epoch. First statement of the writer's transaction (see ``fence``)."""
        with self._cond:
            leading = self._leading and time.monotonic() - self._confirmed < self.lease_s
            epoch = self._epoch
        if not leading or epoch is None:
            raise NotLeader(f"hub {self.hub_id} does not lead")
        fence(target, epoch, self.key)
        return epoch

    # --- life cycle -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="alert-leadership", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Step down (``on_loss``, then the lock released) and end the thread. Idempotent; from a callback it only
        asks (the loop ends once the callback returns)."""
        with self._cond:
            first = not self._stopping.is_set()
            self._stopping.set()
        if self._thread is None:
            return
        if first:
            os.write(self._wake_w, b"x")
        if threading.current_thread() is self._thread:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("leadership of %s: the thread did not end within %s s", self.hub_id, timeout)
        elif self._wake_r >= 0:
            # Closed here, once the thread is gone, never by it: a second stop() must not write to a reused number.
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1

    def step_down(self, reason: str) -> None:
        """Give up leading without ending the candidacy (the consumer can no longer do its work: its feed
        failed): ``on_loss``, the lock released, then ``rest_s`` before standing again, so that a standby takes
        over first; this hub leads again only if none does. Non-blocking, from any thread (a callback too)."""
        with self._cond:
            if not self._leading or self._stopping.is_set():
                return
            self._resign = reason
        if self._wake_w >= 0:
            os.write(self._wake_w, b"r")

    # --- the loop (leadership thread) -----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                conn = psycopg.connect(
                    self.dsn,
                    autocommit=True,
                    application_name=f"iocgw-leader:{self.hub_id}"[:63],
                    options=" ".join(
                        f"-c {k}={v}" for k, v in {**SERVER_TCP_SETTINGS, "lock_timeout": GAIN_LOCK_TIMEOUT}.items()
                    ),
                    **CLIENT_TCP_SETTINGS,
                )
            except psycopg.Error as exc:
                log.debug("leadership of %s: no connection: %s", self.hub_id, exc)
            else:
                with conn:
                    try:
                        self._session(conn)
                    except Exception:  # a bug of ours must not end the candidacy for good
                        log.exception("leadership of %s: the session ended by an error", self.hub_id)
            with self._cond:
                resigned, self._resign = self._resign is not None, None
            self._idle(None, self.rest_s if resigned else self.retry_s)

    def _idle(self, conn: psycopg.Connection[Any] | None, timeout: float) -> None:
        """Wait ``timeout``, or less: stop() was called, or the server sent something (most likely: it closed)."""
        fds = [self._wake_r] if conn is None else [self._wake_r, conn.fileno()]
        with contextlib.suppress(InterruptedError):
            ready, _, _ = select.select(fds, [], [], timeout)
            if self._wake_r in ready and not self._stopping.is_set():
                os.read(self._wake_r, 64)  # a step_down() wake-up, seen: the pipe must not stay readable

    def _session(self, conn: psycopg.Connection[Any]) -> None:
        """One connection: standby until the lock is ours, then leader until the session breaks or stop()."""
        try:
            while True:
                if self._stopping.is_set():
                    return
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                if row is not None and row[0]:
                    break
                self._idle(conn, self.poll_s)
            sent = time.monotonic()
            ensure_schema(conn)
            with conn.transaction():
                row = conn.execute(
                    "INSERT INTO public.leadership AS l (key, epoch, holder, since) VALUES (%s, 1, %s, now())"
                    " ON CONFLICT (key) DO UPDATE"
                    " SET epoch = l.epoch + 1, holder = excluded.holder, since = excluded.since"
                    " RETURNING epoch",
                    (self.key, self.hub_id),
                ).fetchone()
            assert row is not None
            epoch = int(row[0])
        except psycopg.Error as exc:
            log.warning("leadership of %s: session lost while standing by: %s", self.hub_id, " ".join(str(exc).split()))
            return
        self._gain(epoch, sent)
        try:
            if self.on_gain is not None:
                self.on_gain(epoch)
        except Exception as exc:
            log.exception("leadership of %s: on_gain failed", self.hub_id)
            reason = f"on_gain failed: {exc!r}"
        else:
            reason = self._lead(conn, epoch)
        self._lose(epoch, reason)
        if not conn.broken:
            # The consumer has stopped writing (on_loss returned): only now may another hub lead.
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))

    def _lead(self, conn: psycopg.Connection[Any], epoch: int) -> str:
        """Probe the session until it breaks or stop(); the reason leadership ends."""
        try:
            while not self._stopping.is_set():
                self._idle(conn, self.probe_s)
                if self._stopping.is_set():
                    break
                if self._resign is not None:
                    return f"stepped down: {self._resign}"
                sent = time.monotonic()
                row = conn.execute("SELECT epoch FROM public.leadership WHERE key = %s", (self.key,)).fetchone()
                if row is None or int(row[0]) != epoch:
                    return f"the stored epoch is {None if row is None else row[0]}, not {epoch}"
                with self._cond:
                    self._confirmed = sent
                    self._cond.notify_all()
        except psycopg.Error as exc:
            return f"session lost: {exc}"
        except Exception as exc:  # the loss must be reported whatever ended the loop
            log.exception("leadership of %s: the probe failed", self.hub_id)
            return f"probe failed: {exc!r}"
        return "stopped"

    def _gain(self, epoch: int, sent: float) -> None:
        with self._cond:
            self._leading, self._epoch, self._confirmed = True, epoch, sent
            self._cond.notify_all()
        log.info("hub %s leads the alert engine, epoch %d", self.hub_id, epoch)

    def _lose(self, epoch: int, reason: str) -> None:
        with self._cond:
            self._leading = False
            self._cond.notify_all()
        log.info("hub %s no longer leads the alert engine (epoch %d): %s", self.hub_id, epoch, reason)
        if self.on_loss is not None:
            try:
                self.on_loss(epoch, reason)
            except Exception:
                log.exception("leadership of %s: on_loss failed", self.hub_id)
