"""Cluster mode's live alarm push: every hub hears of the alarm changes the leader commits to PostgreSQL.

On one hub the engine tells the console's feed (hub/api/events.py ``AlarmFeed.publish``) itself. In cluster mode the
engine runs on the leader only, so ``PgAlertStore.commit`` sends the changed alarms' ids on the ``iocgw_alarms``
channel inside its transaction (PostgreSQL delivers a notification on commit only: never a change rolled back, never
one a reader cannot see yet), and ``PgAlarmListener``, on every hub the leader's own included, hands them on.

One thread, one connection of its own doing ``LISTEN``. PostgreSQL keeps no notifications for a listener that was
not connected: when the connection is lost (PostgreSQL restarted, a network cut found by the keepalives), the thread
reconnects with a back-off, listens again, and then tells its listeners the ids of every active alarm (possibly
none): a message sent whatever changed, so that a console that may have missed changes refreshes (the page refetches
the whole list on any message). Alarms cleared during the gap are not named in it: a client that follows ids
rather than refetching should refetch on it too. ``stop()`` wakes the thread at once through a pipe.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from hub.alerts.pg_store import ALARM_CHANNEL, DEFAULT_SCHEMA
from hub.pg import conninfo, first_line

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 5.0

AlarmIds = Callable[[list[str]], None]


class PgAlarmListener:
    """Calls each listener with the ids of the alarms every commit to the cluster's alert store changed.

    Listeners are called from the listener's thread: they must be quick and thread-safe (``AlarmFeed.publish`` is).
    ``start()`` returns at once (the thread connects); ``stop()`` returns within ``timeout`` (the thread ends at
    once unless it is inside a connection attempt, bounded by the DSN's connect_timeout, 5 s unless it says)."""

    def __init__(
        self,
        dsn: str,
        on_ids: AlarmIds | None = None,
        *,
        schema: str = DEFAULT_SCHEMA,
        application_name: str = "iocgw-alarm-feed",
    ) -> None:
        self._conninfo = conninfo(dsn, application_name, connect_timeout=5)
        self.schema = schema
        self.listeners: list[AlarmIds] = [on_ids] if on_ids is not None else []
        self.listening = threading.Event()  # set while LISTEN is in force: a commit from now on is heard
        self.connects = 0  # connections that reached LISTEN
        self.connect_failures = 0
        self.notifications = 0
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None

    def subscribe(self, listener: AlarmIds) -> None:
        """Add a listener (before ``start()``): hub.api.app.make_app's ``alarm_changes``."""
        self.listeners.append(listener)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pg-alarm-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread and close its connection. Blocking (at most ``timeout``): call it from a worker thread.
        Again: nothing."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        os.write(self._wake_w, b"x")
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("alarm feed: the listener thread did not end within %.1f s", timeout)
                return  # its pipe stays open: the thread may still select on it
        os.close(self._wake_r)
        os.close(self._wake_w)

    def wait_listening(self, timeout: float) -> bool:
        return self.listening.wait(timeout)

    # -- the listener's thread -------------------------------------------------------------------------------------
    def _run(self) -> None:
        delay = BACKOFF_MIN_S
        lost = False  # a connection was lost (or never made): tell the listeners to refresh once listening again
        while not self._stopping.is_set():
            try:
                conn = psycopg.connect(self._conninfo, autocommit=True)
            except psycopg.Error as exc:
                self.connect_failures += 1
                if not lost:
                    log.warning("alarm feed: cannot connect to PostgreSQL (%s); retrying", first_line(exc))
                lost = True
                self._pause(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            try:
                self._listen(conn, resync=lost)
            except psycopg.Error as exc:
                if not self._stopping.is_set():
                    log.warning("alarm feed: connection to PostgreSQL lost (%s); reconnecting", first_line(exc))
                lost = True
                delay = BACKOFF_MIN_S  # it was up a moment ago: a restart is usually back within a second
                self._pause(delay)
            finally:
                self.listening.clear()
                conn.close()

    def _listen(self, conn: psycopg.Connection[Any], *, resync: bool) -> None:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(ALARM_CHANNEL)))
        # Read after LISTEN: a commit between the two is both in the list and notified, none is lost.
        active = self._active_ids(conn) if resync else None
        self.connects += 1
        self.listening.set()
        if active is not None:
            log.info("alarm feed: listening again; %d active alarms told to refresh", len(active))
            self._tell(active)
        with selectors.DefaultSelector() as selector:  # not select(): a busy hub may have fds above 1024
            selector.register(conn.fileno(), selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                # timeout=0: what has arrived (or arrived during the queries above), without waiting.
                for notify in conn.notifies(timeout=0):
                    self.notifications += 1
                    self._tell(_ids(notify.payload))
                selector.select()

    def _active_ids(self, conn: psycopg.Connection[Any]) -> list[str]:
        query = sql.SQL("SELECT id FROM {}.alarms WHERE active ORDER BY id").format(sql.Identifier(self.schema))
        try:
            return [str(r[0]) for r in conn.execute(query).fetchall()]
        except psycopg.errors.UndefinedTable:  # no store has made its tables yet: nothing to refresh
            return []

    def _tell(self, ids: list[str]) -> None:
        for listener in list(self.listeners):
            try:
                listener(ids)
            except Exception:  # one listener's problem must not silence the others, nor end the thread
                log.exception("an alarm feed listener failed")

    def _pause(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _ids(payload: str) -> list[str]:
    try:
        ids = json.loads(payload)
    except ValueError:
        ids = None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        # Not the store's (someone NOTIFY-ing by hand): still a change somewhere, so a refresh with no ids.
        log.warning("alarm feed: a notification on %s that is not a list of ids: %.100r", ALARM_CHANNEL, payload)
        return []
    return ids
