"""Threshold overrides and their audit trail in PostgreSQL, for cluster mode (``alerts.cluster``, issue 17).

ThresholdStore's interface and semantics (hub/alerts/threshold_overrides.py), so that every hub's API changes the
same overrides and the alert leader, whichever hub it is, applies them; one contract runs against both stores
(tests/hub/alerts/test_threshold_store_contract.py).

What cluster mode adds:

- two hubs may change the same entry at once, so the version check cannot be a read followed by a write on one
  connection as in SQLite: every ``put`` first takes the row lock of a one-row counter (``threshold_generation``),
  which orders all puts of the cluster, and its upsert only lands on the version it read (a compare-and-set the
  database checks, should anything ever write without that lock);
- ``generation()``: the counter, raised by every put in the put's transaction, one indexed row to read, so that a
  hub can tell cheaply whether its tables are behind (RuleManager.refresh);
- ``pg_notify('iocgw_thresholds', '')`` in the put's transaction (sent when it commits, never for a rolled-back one),
  which ``ThresholdListener`` waits for, so that the leader applies a change made on another hub at once.

One connection, autocommit, every write one explicit transaction, used under RuleManager's lock as ThresholdStore's
is. Unlike the alert store's (whose broken connection means lost leadership), a connection found broken is opened
again at the next call, and a read on a connection that breaks under it is tried once more: the API of a hub
otherwise could not change thresholds again after PostgreSQL restarted. A write is never retried: whether it
committed is unknown, and the caller's expected version settles a retry.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import psycopg
from psycopg import sql

from hub.alerts.pg_store import DEFAULT_SCHEMA
from hub.alerts.threshold_overrides import AuditEntry, Override, ThresholdKind, VersionConflict
from hub.pg import conninfo, create_schema, set_search_path

if TYPE_CHECKING:
    from hub.alerts.threshold_overrides import ThresholdStore, ThresholdStoreLike

log = logging.getLogger(__name__)

CHANNEL = "iocgw_thresholds"

COLUMNS = "kind, item_id, body, version, updated_by, updated_at"
SCHEMA = [
    # body NULL: reverted to the file. The row stays so that versions keep growing across a revert.
    """CREATE TABLE IF NOT EXISTS threshold_overrides (
        kind TEXT NOT NULL, item_id TEXT NOT NULL, body TEXT, version INTEGER NOT NULL,
        updated_by TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (kind, item_id))""",
    """CREATE TABLE IF NOT EXISTS threshold_audit (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TIMESTAMPTZ NOT NULL, who TEXT NOT NULL,
        action TEXT NOT NULL, kind TEXT, item_id TEXT, before TEXT, after TEXT, comment TEXT)""",
    "CREATE INDEX IF NOT EXISTS threshold_audit_by_item ON threshold_audit (kind, item_id, id)",
    """CREATE TABLE IF NOT EXISTS threshold_generation (
        id INTEGER PRIMARY KEY CHECK (id = 1), generation BIGINT NOT NULL)""",
    "INSERT INTO threshold_generation (id, generation) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
]


class ThresholdStoreUnavailable(psycopg.OperationalError, ConnectionError):
    """PostgreSQL cannot be reached, even on a new connection. A ConnectionError too, so that the API can tell it
    apart without importing psycopg (which a single hub never loads)."""


def _conninfo(dsn: str, application_name: str) -> str:
    # connect_timeout: an API call waits this long at most for a PostgreSQL that is gone.
    return conninfo(dsn, application_name, connect_timeout=5)


def _connect(dsn: str, schema: str, application_name: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(_conninfo(dsn, application_name), autocommit=True)
    try:
        set_search_path(conn, schema, public=True)
        # Timestamps come back in UTC whatever the server's zone, as the API shows them from SQLite.
        conn.execute("SET TIME ZONE 'UTC'")
    except BaseException:
        conn.close()
        raise
    return conn


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


class PgThresholdStore:
    """ThresholdStore on PostgreSQL. ``dsn``: a libpq connection string or URI; ``schema``: where its tables live
    (created if missing, with the schema itself; the alert store's schema by default)."""

    def __init__(self, dsn: str, *, schema: str = DEFAULT_SCHEMA, application_name: str = "iocgw-thresholds") -> None:
        self._dsn = dsn
        self.schema = schema
        self._application_name = application_name
        self._closed = False
        conn = psycopg.connect(_conninfo(dsn, application_name), autocommit=True)
        try:
            create_schema(conn, schema, SCHEMA)
        finally:
            conn.close()
        self.conn = _connect(dsn, schema, application_name)

    def _live(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise psycopg.OperationalError("threshold store: closed")
        if self.conn.broken:
            try:
                self.conn = _connect(self._dsn, self.schema, self._application_name)
            except psycopg.OperationalError as exc:
                raise ThresholdStoreUnavailable(f"the thresholds' PostgreSQL cannot be reached: {exc}") from exc
            log.info("threshold store: connection to PostgreSQL opened again")
        return self.conn

    def _all(self, query: str | sql.SQL | sql.Composed, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):
            conn = self._live()
            try:
                return conn.execute(query, args).fetchall()
            except psycopg.OperationalError:
                if attempt == 2 or not conn.broken:
                    raise
        raise AssertionError("unreachable")

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[Any]]:
        conn = self._live()
        with conn.transaction(), conn.cursor() as cur:
            yield cur

    def overrides(self) -> list[Override]:
        return [_override(r) for r in self._all(f"SELECT {COLUMNS} FROM threshold_overrides ORDER BY kind, item_id")]

    def get(self, kind: str, item_id: str) -> Override | None:
        rows = self._all(f"SELECT {COLUMNS} FROM threshold_overrides WHERE kind = %s AND item_id = %s", (kind, item_id))
        return _override(rows[0]) if rows else None

    def generation(self) -> int:
        """Raised by every put (committed with it): a hub whose tables were applied at another generation is behind."""
        return int(self._all("SELECT generation FROM threshold_generation WHERE id = 1")[0][0])

    def put(
        self,
        kind: ThresholdKind,
        item_id: str,
        body: dict[str, Any] | None,
        *,
        who: str,
        comment: str | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        expected_version: int | None = None,
        now: datetime | None = None,
    ) -> Override:
        """Store (or revert, ``body`` None) one override and its audit entry in one transaction; VersionConflict
        (nothing stored) when ``expected_version`` is not the entry's version, also when another hub's put of the
        same entry commits first."""
        at = now or datetime.now(UTC)
        with self._tx() as c:
            # The cluster's puts one at a time, in generation order: a put waiting here reads, once it has the lock,
            # the version its predecessor committed (read committed: a new snapshot per statement).
            c.execute("UPDATE threshold_generation SET generation = generation + 1 WHERE id = 1")
            row = c.execute(
                "SELECT version FROM threshold_overrides WHERE kind = %s AND item_id = %s", (kind, item_id)
            ).fetchone()
            version = int(row[0]) if row else 0
            if expected_version is not None and expected_version != version:
                raise VersionConflict(f"{kind}/{item_id} is at version {version}, not {expected_version}")
            # The upsert lands only on the version read (a first insert only where no row exists): the database's
            # own check, whatever the lock above becomes.
            row = c.execute(
                f"INSERT INTO threshold_overrides ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (kind, item_id) DO UPDATE SET body = excluded.body, version = excluded.version, "
                "updated_by = excluded.updated_by, updated_at = excluded.updated_at "
                f"WHERE threshold_overrides.version = %s RETURNING {COLUMNS}",
                (kind, item_id, _json(body), version + 1, who, at, version),
            ).fetchone()
            if row is None:
                raise VersionConflict(f"{kind}/{item_id} changed while it was being stored (version {version})")
            self._audit(c, at, who, "change" if body is not None else "revert", kind, item_id, before, after, comment)
            c.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
        return _override(row)

    def record(self, action: Literal["reload"], who: str, comment: str | None = None) -> None:
        """An audit entry for an event that changes no override (a reload of the files)."""
        with self._tx() as c:
            self._audit(c, datetime.now(UTC), who, action, None, None, None, None, comment)

    @staticmethod
    def _audit(
        c: psycopg.Cursor[Any],
        at: datetime,
        who: str,
        action: str,
        kind: str | None,
        item_id: str | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        comment: str | None,
    ) -> None:
        c.execute(
            "INSERT INTO threshold_audit (at, who, action, kind, item_id, before, after, comment) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (at, who, action, kind, item_id, _json(before), _json(after), comment),
        )

    def audit(self, *, kind: str | None = None, item_id: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """Newest first."""
        where: list[sql.Composable] = []
        args: list[Any] = []
        for column, value in (("kind", kind), ("item_id", item_id)):
            if value is not None:
                where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                args.append(value)
        query: sql.SQL | sql.Composed = sql.SQL(
            "SELECT id, at, who, action, kind, item_id, before, after, comment FROM threshold_audit"
        )
        if where:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
        query += sql.SQL(" ORDER BY id DESC LIMIT %s")
        return [
            AuditEntry(
                id=r[0],
                at=r[1],
                who=r[2],
                action=r[3],
                kind=r[4],
                item_id=r[5],
                before=None if r[6] is None else json.loads(r[6]),
                after=None if r[7] is None else json.loads(r[7]),
                comment=r[8],
            )
            for r in self._all(query, (*args, limit))
        ]

    def close(self) -> None:
        self._closed = True
        self.conn.close()


def _override(row: tuple[Any, ...]) -> Override:
    return Override(
        kind=row[0],
        item_id=row[1],
        body=None if row[2] is None else json.loads(row[2]),
        version=int(row[3]),
        updated_by=row[4],
        updated_at=row[5],
    )


class ThresholdListener:
    """Waits for the puts' notifications, on a connection of its own (a LISTENing connection cannot run the store's
    queries while it waits). ``wait(timeout)`` returns True when a put committed since the last call, or when the
    connection was lost (a notification may have been missed then: refresh anyway), False after ``timeout`` quietly.

    Meant for one thread that refreshes a RuleManager::

        while not stopping.is_set():
            listener.wait(30.0)
            rules.refresh()
    """

    def __init__(self, dsn: str, *, application_name: str = "iocgw-thresholds-listen") -> None:
        self._dsn = dsn
        self._application_name = application_name
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = threading.Event()
        # Held by wait(): libpq must not free a connection another thread is waiting on, so close() leaves the
        # closing to a wait in progress.
        self._lock = threading.Lock()

    def _listening(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            conn = psycopg.connect(_conninfo(self._dsn, self._application_name), autocommit=True)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            self._conn = conn
        return self._conn

    def wait(self, timeout: float) -> bool:
        """Blocks up to ``timeout`` seconds (a little more while PostgreSQL is unreachable: the connect's own
        timeout)."""
        with self._lock:
            try:
                if self._closed.is_set():
                    return False
                return self._wait(timeout)
            finally:
                if self._closed.is_set():
                    self._close()

    def _wait(self, timeout: float) -> bool:
        try:
            conn = self._listening()
            got = False
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                got = True
            if got:  # what of a burst of puts has arrived already: one refresh for them (a later one wakes it again)
                for _ in conn.notifies(timeout=0):
                    pass
            return got
        except psycopg.OperationalError as exc:
            if self._closed.is_set():
                return False
            pause = min(timeout, 5.0)
            log.warning("threshold listener: %s; listening again in %.0f s", exc, pause)
            self._closed.wait(pause)
            return True

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Does not block: a wait in progress closes the connection when it returns (at its timeout at the latest)."""
        self._closed.set()
        if self._lock.acquire(blocking=False):
            try:
                self._close()
            finally:
                self._lock.release()


if TYPE_CHECKING:  # mypy checks that both stores keep the one interface

    def _both_are_stores(sqlite: ThresholdStore, pg: PgThresholdStore) -> list[ThresholdStoreLike]:
        return [sqlite, pg]
