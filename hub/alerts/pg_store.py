"""The alert engine's state in PostgreSQL: AlertStore's interface and semantics, for several hubs sharing one truth.

The first building block of design (iii) in docs/scaling-alerts-design.md (one alert-engine leader with a hot
standby): alarms, rule state, the notification outbox (``alarm_events``) and the alarm lines still to write to InfluxDB
live in PostgreSQL, so that a standby taking over continues from the same state and every hub's API reads the same
alarms. SQLite (hub/alerts/store.py) stays the one-hub store; tests/hub/alerts/test_store.py runs the same contract
against both.

Two additions for the leader, both inside ``commit()``'s transaction:

- ``node_seq``: per node, the highest message sequence the engine has evaluated (``commit(..., node_seq={node:
  seq})``, only ever advanced), so that a new leader can skip what its predecessor already committed;
- ``dedupe``: per node, the state of the leader's sequence tracker (hub/ingest/dedupe.py: every number up to a
  floor, and the recent ones above it) as of the batch committed, so that a new leader drops exactly the messages
  its predecessor evaluated, and still evaluates one that reaches it late with a lower number (a node's outbox
  resending after a link outage), which the highest sequence alone would take for done;
- ``fence``: ``commit(..., fence=callable)`` runs the callable first in the commit's transaction, with its cursor,
  and whatever it raises aborts the commit: ``fence=leadership.check`` (hub/alerts/leader.py) refuses the write of a
  leader that was paused or cut off once another took over (its epoch row, read under a share lock in this same
  transaction, so a new leader's epoch waits for a commit in flight and sees its result).

Every commit that changes alarms also sends their ids on the ``iocgw_alarms`` channel (``pg_notify``, a JSON list,
inside the transaction: PostgreSQL delivers a notification only when its transaction commits, so a listener never
hears of a change it cannot read yet, nor of one rolled back). hub/alerts/pg_alarm_feed.py listens, on every hub, for
the console's live push.

One connection, autocommit, every write an explicit transaction (nothing partial is ever visible). The connection is not
silently re-opened: for the leader, a lost connection is lost leadership (its advisory lock dies with it); the caller
opens a new store. The API's reader is the exception (``reopen_reads=True``): it only reads, so a read that finds its
connection lost (PostgreSQL restarted) is tried once more on a new one, and it refuses every write. Bodies are stored as
the same JSON text as in SQLite (not jsonb: jsonb reorders object keys and refuses NaN, and rule state must come back
exactly as it was put); ``updated_at`` is a ``timestamptz`` and the area a column of its own, for the API's queries.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from psycopg import sql

from hub.alerts.alarm import Alarm, Transition
from hub.pg import conninfo, create_schema, first_line, set_search_path

if TYPE_CHECKING:
    from hub.alerts.store import AlertStore

log = logging.getLogger(__name__)

DEFAULT_SCHEMA = "iocgw_alerts"
# One channel per database: stores in several schemas of one database are heard together (alarm ids are random, so
# a listener is never misled, only told of more than its own).
ALARM_CHANNEL = "iocgw_alarms"
# PostgreSQL refuses a payload of 8000 bytes or more: about 225 alarm ids (32 hex characters each) per notification.
NOTIFY_MAX_BYTES = 7900

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS alarms (
        id TEXT PRIMARY KEY, rule TEXT NOT NULL, subject TEXT NOT NULL, area TEXT, active BOOLEAN NOT NULL,
        started_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL, body TEXT NOT NULL)""",
    # At most one active alarm per rule and subject: the database enforces what the engine promises.
    "CREATE UNIQUE INDEX IF NOT EXISTS one_active ON alarms (rule, subject) WHERE active",
    "CREATE INDEX IF NOT EXISTS alarms_by_time ON alarms (updated_at)",
    "CREATE TABLE IF NOT EXISTS rule_state (key TEXT PRIMARY KEY, body TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS alarm_events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, alarm_id TEXT NOT NULL, revision INTEGER NOT NULL,
        transition TEXT NOT NULL, body TEXT NOT NULL, dispatched BOOLEAN NOT NULL DEFAULT FALSE,
        UNIQUE (alarm_id, revision, transition))""",
    "CREATE INDEX IF NOT EXISTS undispatched ON alarm_events (id) WHERE NOT dispatched",
    # Alarm lines for InfluxDB, kept until the hub has stored them (see store.py). Ids come from a sequence, so
    # "everything up to id N" is only exact with one writer at a time: the leader, which its epoch fences.
    "CREATE TABLE IF NOT EXISTS pending_lines (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, line TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS node_seq (node_id TEXT PRIMARY KEY, seq BIGINT NOT NULL)",
    # The leader's per-node dedupe trackers (hub/ingest/dedupe.py SeqTracker: floor and recent numbers, JSON)
    "CREATE TABLE IF NOT EXISTS node_dedupe (node_id TEXT PRIMARY KEY, floor BIGINT NOT NULL, recent TEXT NOT NULL)",
]


class StoreUnavailable(psycopg.OperationalError, ConnectionError):
    """The API's reader (``reopen_reads``) cannot reach PostgreSQL, even on a new connection. A ConnectionError too,
    so that the API tells it apart without importing psycopg (which a single hub never loads)."""


def notify_payloads(ids: list[str]) -> list[str]:
    """``ids`` as JSON lists, each under PostgreSQL's payload limit, in order."""
    payloads: list[str] = []
    chunk: list[str] = []
    size = 2  # the brackets
    for alarm_id in ids:
        cost = len(json.dumps(alarm_id).encode()) + 1  # and a comma
        if chunk and size + cost > NOTIFY_MAX_BYTES:
            payloads.append(json.dumps(chunk, separators=(",", ":")))
            chunk, size = [], 2
        chunk.append(alarm_id)
        size += cost
    if chunk:
        payloads.append(json.dumps(chunk, separators=(",", ":")))
    return payloads


class AlertStoreLike(Protocol):
    """What the engine and the API use of a store; AlertStore (SQLite) and PgAlertStore both are one."""

    def active_alarms(self) -> dict[tuple[str, str], Alarm]: ...
    def rule_state(self, *keys: str) -> dict[str, Any]: ...
    def commit(
        self,
        alarms: list[tuple[Alarm, Transition]],
        state: dict[str, Any],
        notify: set[Transition],
        lines: list[str] | None = None,
    ) -> list[tuple[int, Alarm, Transition]]: ...
    def pending_lines(self) -> tuple[int, list[str]]: ...
    def lines_stored(self, up_to_id: int) -> None: ...
    def undispatched(self) -> list[tuple[int, Alarm, Transition]]: ...
    def mark_dispatched(self, event_ids: list[int]) -> None: ...
    def alarms(
        self, *, active: bool | None = None, rule: str | None = None, area: str | None = None, limit: int = 200
    ) -> list[Alarm]: ...
    def get(self, alarm_id: str) -> Alarm | None: ...
    def close(self) -> None: ...


class PgAlertStore:
    """AlertStore on PostgreSQL. ``dsn``: a libpq connection string or URI; ``schema``: where its tables live
    (created if missing, with the schema itself), so that several stores can share a database.

    ``reopen_reads``: the API's reader. A read whose connection is found lost is tried once more on a new connection
    (one API call sees nothing of a PostgreSQL restart); when PostgreSQL cannot be reached at all, reads raise
    StoreUnavailable. Writes are refused: a write on a connection opened behind the writer's back could outlive a
    leadership."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        application_name: str = "iocgw-alerts",
        reopen_reads: bool = False,
    ) -> None:
        # connect_timeout: an API call waits this long at most for a PostgreSQL that is gone.
        self._conninfo = conninfo(dsn, application_name, connect_timeout=5 if reopen_reads else None)
        self.reopen_reads = reopen_reads
        self.reopened = 0
        self._reopen_lock = threading.Lock()
        self.conn = psycopg.connect(self._conninfo, autocommit=True)
        self.schema = schema
        # Then public: what other parts keep there (hub.alerts.leader's leadership_fence) resolves through the
        # store's connection, so that a fence can run inside the store's own transaction.
        create_schema(self.conn, schema, SCHEMA, public=True)

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[Any]]:
        if self.reopen_reads:
            raise RuntimeError("alert store: a reader (reopen_reads) never writes; open a store of its own to write")
        with self.conn.transaction(), self.conn.cursor() as cur:
            yield cur

    def _all(self, query: str | sql.Composed, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self.conn
        # broken: lost, not closed by close() (a closed reader stays closed).
        if not (self.reopen_reads and conn.broken):
            try:
                return conn.execute(query, args).fetchall()
            except psycopg.OperationalError:
                if not (self.reopen_reads and conn.broken):  # the query failed, not the connection
                    raise
                log.info("alert store reader: connection to PostgreSQL lost; reading again on a new one")
        try:
            return self._reopen(conn).execute(query, args).fetchall()
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL cannot be reached ({first_line(exc)})") from exc

    def _reopen(self, lost: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
        """A new connection in place of ``lost`` (once, whichever thread finds it lost first)."""
        with self._reopen_lock:
            if self.conn is not lost:
                return self.conn
            conn = psycopg.connect(self._conninfo, autocommit=True)
            try:
                set_search_path(conn, self.schema, public=True)
            except BaseException:
                conn.close()
                raise
            self.conn = conn
            self.reopened += 1
        lost.close()
        return conn

    def active_alarms(self) -> dict[tuple[str, str], Alarm]:
        alarms = [Alarm.model_validate_json(r[0]) for r in self._all("SELECT body FROM alarms WHERE active")]
        return {a.key: a for a in alarms}

    def rule_state(self, *keys: str) -> dict[str, Any]:
        """The rule state, or only ``keys`` of it (a reader after one entry need not read every rule's windows)."""
        if not keys:
            return {k: json.loads(v) for k, v in self._all("SELECT key, body FROM rule_state")}
        return {
            k: json.loads(v)
            for k, v in self._all("SELECT key, body FROM rule_state WHERE key = ANY(%s)", (list(keys),))
        }

    def commit(
        self,
        alarms: list[tuple[Alarm, Transition]],
        state: dict[str, Any],
        notify: set[Transition],
        lines: list[str] | None = None,
        *,
        node_seq: dict[str, int] | None = None,
        dedupe: dict[str, tuple[int, list[int]]] | None = None,
        fence: Callable[[psycopg.Cursor[Any]], object] | None = None,
    ) -> list[tuple[int, Alarm, Transition]]:
        """Store changed alarms, changed rule state, the events to notify, the alarm lines and the nodes' evaluated
        sequences, in one transaction (AlertStore.commit).

        Returns the new events (id, alarm, transition) to hand to the notifier; an event already stored (a message
        replayed after a crash, or by the next leader) is not returned again. ``fence``, if given, is called first
        in the transaction with its cursor, and whatever it raises aborts the commit (nothing written): the
        leadership's ``fence=leadership.check`` (hub.alerts.leader.AlertLeadership) raises StaleEpoch there.
        """
        events: list[tuple[int, Alarm, Transition]] = []
        with self._tx() as c:
            if fence is not None:
                fence(c)
            for alarm, transition in alarms:
                body = alarm.model_dump_json()
                c.execute(
                    "INSERT INTO alarms (id, rule, subject, area, active, started_at, updated_at, body) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET area = excluded.area, "
                    "active = excluded.active, updated_at = excluded.updated_at, body = excluded.body",
                    (
                        alarm.id,
                        alarm.rule,
                        alarm.subject,
                        alarm.area,
                        alarm.state.active,
                        alarm.started_at,
                        alarm.updated_at,
                        body,
                    ),
                )
                if transition in notify:
                    c.execute(
                        "INSERT INTO alarm_events (alarm_id, revision, transition, body) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (alarm_id, revision, transition) DO NOTHING RETURNING id",
                        (alarm.id, alarm.revision, transition.value, body),
                    )
                    row = c.fetchone()
                    if row is not None:
                        events.append((int(row[0]), alarm, transition))
            if lines:
                c.executemany("INSERT INTO pending_lines (line) VALUES (%s)", [(x,) for x in lines])
            if state:
                c.executemany(
                    "INSERT INTO rule_state (key, body) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET body = excluded.body",
                    [(k, json.dumps(v)) for k, v in state.items()],
                )
            if node_seq:
                c.executemany(
                    "INSERT INTO node_seq (node_id, seq) VALUES (%s, %s) "
                    "ON CONFLICT (node_id) DO UPDATE SET seq = GREATEST(node_seq.seq, excluded.seq)",
                    sorted(node_seq.items()),  # one lock order for every writer
                )
            if dedupe:
                c.executemany(
                    "INSERT INTO node_dedupe (node_id, floor, recent) VALUES (%s, %s, %s) "
                    "ON CONFLICT (node_id) DO UPDATE SET floor = excluded.floor, recent = excluded.recent",
                    [(n, floor, json.dumps(recent)) for n, (floor, recent) in sorted(dedupe.items())],
                )
            # Last, so that a commit refused above notifies nothing (and PostgreSQL sends these only on commit).
            for payload in notify_payloads(list(dict.fromkeys(a.id for a, _ in alarms))):
                c.execute("SELECT pg_notify(%s, %s)", (ALARM_CHANNEL, payload))
        return events

    def node_seqs(self) -> dict[str, int]:
        """Per node, the highest message sequence committed as evaluated."""
        return {str(n): int(s) for n, s in self._all("SELECT node_id, seq FROM node_seq")}

    def dedupe_state(self) -> dict[str, tuple[int, list[int]]]:
        """Per node, the leader's sequence tracker as last committed (Processor's ``dedupe_state``)."""
        rows = self._all("SELECT node_id, floor, recent FROM node_dedupe")
        return {str(n): (int(f), [int(x) for x in json.loads(r)]) for n, f, r in rows}

    def node_seq(self, node_id: str) -> int | None:
        rows = self._all("SELECT seq FROM node_seq WHERE node_id = %s", (node_id,))
        return int(rows[0][0]) if rows else None

    def pending_lines(self) -> tuple[int, list[str]]:
        """(highest id, lines) not yet confirmed as stored in InfluxDB."""
        rows = self._all("SELECT id, line FROM pending_lines ORDER BY id")
        return (int(rows[-1][0]) if rows else 0), [r[1] for r in rows]

    def lines_stored(self, up_to_id: int) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM pending_lines WHERE id <= %s", (up_to_id,))

    def undispatched(self) -> list[tuple[int, Alarm, Transition]]:
        rows = self._all("SELECT id, body, transition FROM alarm_events WHERE NOT dispatched ORDER BY id")
        return [(int(r[0]), Alarm.model_validate_json(r[1]), Transition(r[2])) for r in rows]

    def mark_dispatched(self, event_ids: list[int]) -> None:
        if event_ids:
            with self._tx() as c:
                c.execute("UPDATE alarm_events SET dispatched = TRUE WHERE id = ANY(%s)", (list(event_ids),))

    def alarms(
        self, *, active: bool | None = None, rule: str | None = None, area: str | None = None, limit: int = 200
    ) -> list[Alarm]:
        where: list[sql.Composable] = []
        args: list[Any] = []
        if active is not None:
            where.append(sql.SQL("active = %s"))
            args.append(active)
        if rule is not None:
            where.append(sql.SQL("rule = %s"))
            args.append(rule)
        if area is not None:
            # A prefix of the GSO code (province, district, commune), in SQL before the LIMIT, as in store.py.
            where.append(sql.SQL("starts_with(coalesce(area, ''), %s)"))
            args.append(area)
        query: sql.Composed = sql.Composed([sql.SQL("SELECT body FROM alarms")])
        if where:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
        query += sql.SQL(" ORDER BY updated_at DESC LIMIT %s")
        return [Alarm.model_validate_json(r[0]) for r in self._all(query, (*args, limit))]

    def get(self, alarm_id: str) -> Alarm | None:
        rows = self._all("SELECT body FROM alarms WHERE id = %s", (alarm_id,))
        return Alarm.model_validate_json(rows[0][0]) if rows else None

    def close(self) -> None:
        self.conn.close()


if TYPE_CHECKING:  # mypy checks that both stores keep the one interface

    def _both_are_stores(sqlite: AlertStore, pg: PgAlertStore) -> list[AlertStoreLike]:
        return [sqlite, pg]
