"""The public warnings' durable record in PostgreSQL, shared by the hubs of a cluster (docs/scaling.md, "Cluster
mode"; issue 17). ``Outbox``'s interface and semantics (hub/warn/outbox.py), so that ``PublicWarnings`` runs on
either; what several hubs sharing it adds:

- **Ids from the alarm, not the hub.** A batch's id is ``<alarm>.<revision>.<transition>/<policy>``, a message's
  ``<alarm>.<revision>.<transition>/<recipient>/<channel>``, a CAP message's identifier is computed from the alarm:
  a change submitted by two leaders (the old one's last events, redispatched by the new one) inserts one batch
  between them (``ON CONFLICT DO NOTHING``), and a batch expanded twice one message per recipient and channel.
- **A claim is one statement**: the due rows are picked ``FOR UPDATE SKIP LOCKED`` and marked ``sending`` in the
  same ``UPDATE``, so two senders (a new leader's workers and an old leader's still draining) never get the same
  message; a row another transaction holds is skipped, not waited for. A claim whose connection broke at the
  commit (committed or not, no sender got its messages) is undone by this outbox's next claim that commits (each
  claim carries its own token), so a leader that rode out a PostgreSQL restart leaves nothing ``sending``.
- **Decisions are serialised on the row** (``SELECT ... FOR UPDATE``): two officers approving one batch on two
  hubs' consoles, one wins, the other is told its state. Batches of one alarm and policy are added under a
  transaction-level advisory lock on that pair, so superseding the pending ones is never raced by another hub.
- **Recovery belongs to the one running the workers.** ``recover()`` turns every ``sending`` message into
  ``unknown`` (or ``queued``) as on one hub; ``PublicWarnings.start_workers`` calls it when a hub becomes the
  leader, so the messages a dead leader was sending wait for a report or are sent again. A leader that steps down
  drains its sends first (``stop_workers``), so a clean handover leaves nothing ``sending``; the one duplicate
  window left is a leader that stalls past its loss with a send in flight (as in hub/alerts/notify/pg_queue.py).
  ``claimed_by`` records which hub took each message, for inspection.

Connection as in the alert stores: one per outbox, autocommit, a lock keeping one statement or transaction on it
at a time, every write one transaction; tables created if missing (schema ``iocgw_warnings``) under an advisory
lock so that hubs starting together do not race; a broken connection is replaced on the next call, a read is tried
once more on the new one, a write never (its caller retries or reports). ``OutboxUnavailable`` (a ConnectionError)
when PostgreSQL cannot be reached, so ``PublicWarnings`` and the API tell it apart without importing psycopg.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from hub.pg import conninfo, create_schema
from hub.warn.outbox import FINAL, Due

log = logging.getLogger(__name__)

DEFAULT_SCHEMA = "iocgw_warnings"
# Any constant: keys the per (alarm, policy) lock under which batches are added (the two-key form: it never meets
# hub.pg's one-key SCHEMA_LOCK).
_BATCH_LOCK = 0x10C6_3A12

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS batches (
        id TEXT PRIMARY KEY,
        alarm_id TEXT NOT NULL,
        policy TEXT NOT NULL,
        transition TEXT NOT NULL,
        area TEXT NOT NULL,
        severity TEXT NOT NULL,
        alarm TEXT NOT NULL,
        state TEXT NOT NULL,
        approval TEXT NOT NULL,
        release_at DOUBLE PRECISION NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        decided_by TEXT,
        decided_at DOUBLE PRECISION,
        comment TEXT,
        messages INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS batches_alarm ON batches (alarm_id, policy)",
    "CREATE INDEX IF NOT EXISTS batches_state ON batches (state)",
    """CREATE TABLE IF NOT EXISTS messages (
        id TEXT PRIMARY KEY,
        batch_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        recipient_id TEXT NOT NULL,
        address TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at DOUBLE PRECISION NOT NULL,
        last_error TEXT,
        provider_id TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        sent_at DOUBLE PRECISION,
        delivered_at DOUBLE PRECISION,
        updated_at DOUBLE PRECISION NOT NULL,
        claimed_by TEXT,
        claim TEXT)""",
    "CREATE INDEX IF NOT EXISTS messages_due ON messages (channel, state, next_at)",
    "CREATE INDEX IF NOT EXISTS messages_batch ON messages (batch_id)",
    """CREATE TABLE IF NOT EXISTS cap (
        identifier TEXT PRIMARY KEY,
        alarm_id TEXT NOT NULL,
        sent DOUBLE PRECISION NOT NULL,
        msg_type TEXT NOT NULL,
        headline TEXT NOT NULL,
        alarm TEXT NOT NULL,
        xml BYTEA NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS cap_alarm ON cap (alarm_id, sent)",
    """CREATE TABLE IF NOT EXISTS known (
        kind TEXT NOT NULL, key TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (kind, key))""",
    """CREATE TABLE IF NOT EXISTS audit (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        ts DOUBLE PRECISION NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL)""",
]

# The columns Outbox returns, in its order: the rows of both stores compare equal.
MESSAGE_COLUMNS = (
    "id, batch_id, channel, recipient_id, address, body, state, attempts, next_at, last_error, provider_id, "
    "created_at, sent_at, delivered_at, updated_at"
)
MESSAGE_FIELDS = frozenset(c.strip() for c in MESSAGE_COLUMNS.split(","))

# The due rows of one channel, oldest first, each locked or skipped, marked sending in the same statement.
_CLAIM = """WITH due AS (
        SELECT id FROM messages WHERE channel = %(channel)s AND state = 'queued' AND next_at <= %(now)s
        ORDER BY next_at, created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    UPDATE messages m SET state = 'sending', attempts = m.attempts + 1, updated_at = %(now)s, claimed_by = %(me)s,
        claim = %(claim)s
    FROM due WHERE m.id = due.id
    RETURNING m.id, m.body, m.attempts, m.created_at, m.next_at"""


class OutboxUnavailable(psycopg.OperationalError, ConnectionError):
    """PostgreSQL cannot be reached (or the connection broke during the call). A ConnectionError too, so that the
    service and the API can tell it apart without importing psycopg (which a single hub never loads)."""


class PgOutbox:
    """``Outbox`` in PostgreSQL, for several hubs at once.

    ``dsn``: libpq connection string or URI (``alerts.cluster.dsn``); ``schema``: where the tables live (created if
    missing); ``owner``: this hub's name in ``claimed_by`` (default: a fresh random one per outbox object).
    """

    # Another hub's approval or expansion does not wake this hub's workers: they look every so often.
    idle_poll_s: float | None = 1.0

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        owner: str | None = None,
        application_name: str = "iocgw-warnings",
        poll_s: float = 1.0,
    ) -> None:
        self._dsn = conninfo(dsn, application_name, connect_timeout=5)
        self.schema = schema
        self.owner = owner or f"warnings-{uuid.uuid4().hex[:12]}"
        self.idle_poll_s = poll_s
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        self._closed = False
        # Claims whose outcome the connection lost: committed or not, their messages never reached a sender.
        self._lost_claims: set[str] = set()
        with self._lock:
            self._connection()  # the tables exist once the constructor returns

    # -- the connection (the caller holds the lock) -----------------------------------------------------------
    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        if self._closed:
            raise RuntimeError("warnings outbox is closed")
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self._conn = None
            log.info("warnings outbox: connection to PostgreSQL lost, opening a new one")
        if self._conn is None:
            try:
                conn = psycopg.connect(self._dsn, autocommit=True, row_factory=dict_row)
            except psycopg.OperationalError as exc:
                raise OutboxUnavailable(f"the warnings' PostgreSQL cannot be reached: {exc}") from exc
            try:
                create_schema(conn, self.schema, SCHEMA)
            except psycopg.OperationalError as exc:
                raise OutboxUnavailable(f"the warnings' PostgreSQL connection broke: {exc}") from exc
            self._conn = conn
        return self._conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    yield cur
            except psycopg.OperationalError as exc:
                if isinstance(exc, OutboxUnavailable) or not conn.broken:
                    raise
                # Committed or not, the caller cannot tell: it is told the outbox is away and tries again later.
                raise OutboxUnavailable(f"the warnings' PostgreSQL connection broke: {exc}") from exc

    def _rows(self, query: str | sql.Composed, args: Iterable[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        params = args if isinstance(args, dict) else tuple(args)
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    return conn.execute(query, params).fetchall()
                except psycopg.OperationalError as exc:
                    if not conn.broken:
                        raise
                    if attempt == 2:
                        raise OutboxUnavailable(f"the warnings' PostgreSQL connection broke: {exc}") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- batches ----------------------------------------------------------------------------------------------
    def add_batch(self, row: dict[str, Any], supersede_pending: bool) -> bool:
        """Store a batch (False: it exists already, added by this hub or another). ``supersede_pending``: earlier
        batches of the same alarm and policy still awaiting approval are superseded by this one."""
        with self._tx() as c:
            c.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_BATCH_LOCK, f"{row['alarm_id']}/{row['policy']}")
            )
            cols = sql.SQL(", ").join(sql.Identifier(k) for k in row)
            marks = sql.SQL(", ").join(sql.Placeholder() for _ in row)
            c.execute(
                sql.SQL("INSERT INTO batches ({}) VALUES ({}) ON CONFLICT (id) DO NOTHING RETURNING 1").format(
                    cols, marks
                ),
                tuple(row.values()),
            )
            if c.fetchone() is None:
                return False
            if supersede_pending:
                c.execute(
                    "UPDATE batches SET state = 'superseded', decided_at = %s, comment = %s "
                    "WHERE alarm_id = %s AND policy = %s AND state = 'awaiting_approval' AND id <> %s",
                    (row["created_at"], f"superseded by {row['id']}", row["alarm_id"], row["policy"], row["id"]),
                )
        return True

    def earlier_states(self, alarm_id: str, policy: str) -> set[str]:
        rows = self._rows("SELECT DISTINCT state FROM batches WHERE alarm_id = %s AND policy = %s", (alarm_id, policy))
        return {r["state"] for r in rows}

    def decide(self, batch_id: str, approve: bool, actor: str, comment: str, now: float) -> dict[str, Any]:
        """Approve or reject a batch awaiting approval; ValueError (with the batch's state) otherwise."""
        with self._tx() as c:
            row = c.execute("SELECT state FROM batches WHERE id = %s FOR UPDATE", (batch_id,)).fetchone()
            if row is None:
                raise KeyError(batch_id)
            if row["state"] != "awaiting_approval":
                raise ValueError(f"batch {batch_id} is {row['state']}, not awaiting approval")
            state = "approved" if approve else "rejected"
            c.execute(
                "UPDATE batches SET state = %s, decided_by = %s, decided_at = %s, comment = %s WHERE id = %s",
                (state, actor, now, comment, batch_id),
            )
            c.execute(
                "INSERT INTO audit (ts, actor, action, subject, detail) VALUES (%s, %s, %s, %s, %s)",
                (now, actor, "approve" if approve else "reject", batch_id, comment),
            )
        return self.batch(batch_id) or {}

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM batches WHERE id = %s", (batch_id,))
        return rows[0] if rows else None

    def batches(self, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM batches WHERE (%(state)s::text IS NULL OR state = %(state)s) "
            "ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
            {"state": state, "limit": limit},
        )

    def to_expand(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM batches WHERE state = 'approved' ORDER BY created_at, id")

    def add_messages(self, batch_id: str, rows: list[dict[str, Any]], done: bool) -> int:
        """Messages of a batch (each once, whoever inserted it before); ``done``: the batch is fully expanded."""
        cols = ("id", "channel", "recipient_id", "address", "body", "next_at", "created_at")
        arrays = [[r[k] for r in rows] for k in cols]
        with self._tx() as c:
            c.execute(
                "INSERT INTO messages (id, batch_id, channel, recipient_id, address, body, state, next_at, "
                "created_at, updated_at) SELECT i, %s, ch, rc, ad, bo, 'queued', na, ca, ca "
                "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::float8[], %s::float8[]) "
                "AS u(i, ch, rc, ad, bo, na, ca) ON CONFLICT (id) DO NOTHING",
                (batch_id, *arrays),
            )
            added = max(c.rowcount, 0)
            if done:
                c.execute(
                    "UPDATE batches SET state = 'expanded', "
                    "messages = (SELECT count(*) FROM messages WHERE batch_id = %s) WHERE id = %s",
                    (batch_id, batch_id),
                )
        return added

    # -- CAP --------------------------------------------------------------------------------------------------
    def cap_refs(self, alarm_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT identifier, sent FROM cap WHERE alarm_id = %s ORDER BY sent, identifier", (alarm_id,))

    def add_cap(self, identifier: str, alarm_json: str, sent: float, msg_type: str, headline: str, xml: bytes) -> bool:
        alarm_id = json.loads(alarm_json)["id"]
        with self._tx() as c:
            c.execute(
                "INSERT INTO cap (identifier, alarm_id, sent, msg_type, headline, alarm, xml) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (identifier) DO NOTHING",
                (identifier, alarm_id, sent, msg_type, headline, alarm_json, xml),
            )
            return c.rowcount == 1

    def cap(self, identifier: str) -> bytes | None:
        rows = self._rows("SELECT xml FROM cap WHERE identifier = %s", (identifier,))
        return bytes(rows[0]["xml"]) if rows else None

    def cap_active(self) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT c.identifier, c.alarm_id, c.sent, c.msg_type, c.headline, c.alarm FROM cap c "
            "JOIN (SELECT alarm_id, max(sent) AS s FROM cap GROUP BY alarm_id) n ON c.alarm_id = n.alarm_id "
            "AND c.sent = n.s WHERE c.msg_type <> 'Cancel' ORDER BY c.sent DESC"
        )

    # -- messages ---------------------------------------------------------------------------------------------
    def claim(self, channel: str, now: float, limit: int) -> list[Due]:
        """Up to ``limit`` due messages of one channel, oldest first, marked ``sending`` before they are returned;
        rows another sender is claiming at this moment are skipped, so no message is claimed twice."""
        token = uuid.uuid4().hex
        args = {"channel": channel, "now": now, "limit": limit, "me": self.owner, "claim": token}
        with self._lock:
            conn = None
            try:
                conn = self._connection()
                with conn.transaction(), conn.cursor() as c:
                    if self._lost_claims:
                        # Queued again as they were: no sender got them, so nothing was attempted.
                        c.execute(
                            "UPDATE messages SET state = 'queued', attempts = attempts - 1, updated_at = %s "
                            "WHERE state = 'sending' AND claim = ANY(%s)",
                            (now, list(self._lost_claims)),
                        )
                    rows = c.execute(_CLAIM, args).fetchall()
            except psycopg.OperationalError as exc:
                # A connection that broke at the commit leaves it unknown whether the claim was committed: if it
                # was, its messages would stay sending, unsent, until the next leader's recovery; the next claim
                # that commits queues them again.
                self._lost_claims.add(token)
                if isinstance(exc, OutboxUnavailable) or conn is None or not conn.broken:
                    raise
                raise OutboxUnavailable(f"the warnings' PostgreSQL connection broke: {exc}") from exc
            self._lost_claims.clear()
        rows.sort(key=lambda r: (r["next_at"], r["created_at"], r["id"]))  # RETURNING keeps no order
        return [Due(r["id"], r["body"], r["attempts"], r["created_at"]) for r in rows]

    def next_due(self, channel: str) -> float | None:
        rows = self._rows("SELECT min(next_at) AS t FROM messages WHERE channel = %s AND state = 'queued'", (channel,))
        return rows[0]["t"] if rows and rows[0]["t"] is not None else None

    def mark_sent(self, message_id: str, state: str, provider_id: str | None, detail: str, now: float) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE messages SET state = CASE WHEN state IN ('delivered', 'failed') THEN state ELSE %(state)s END, "
                "provider_id = coalesce(%(pid)s, provider_id), sent_at = coalesce(sent_at, %(now)s), "
                "delivered_at = CASE WHEN %(state)s = 'delivered' THEN coalesce(delivered_at, %(now)s) "
                "ELSE delivered_at END, "
                "last_error = CASE WHEN %(detail)s <> '' THEN %(detail)s ELSE last_error END, updated_at = %(now)s "
                "WHERE id = %(id)s",
                {"state": state, "pid": provider_id, "now": now, "detail": detail, "id": message_id},
            )

    def mark_retry(self, message_id: str, error: str, next_at: float, now: float) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE messages SET state = 'queued', last_error = %s, next_at = %s, updated_at = %s "
                "WHERE id = %s AND state = 'sending'",
                (error, next_at, now, message_id),
            )

    def mark_failed(self, message_id: str, error: str, now: float) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE messages SET state = 'failed', last_error = %s, updated_at = %s WHERE id = %s "
                "AND state NOT IN ('delivered', 'failed')",
                (error, now, message_id),
            )

    def report(self, message_id: str, state: str, detail: str, now: float) -> bool:
        """A delivery report: moves a message forward (to sent, delivered or failed), never back; False if unknown.
        Taken by any hub (the gateway calls whichever the proxy picks); the row lock orders it with the sender's
        own outcome."""
        if state not in ("sent", "delivered", "failed"):
            raise ValueError(f"a report says sent, delivered or failed, not {state!r}")
        with self._tx() as c:
            row = c.execute("SELECT state FROM messages WHERE id = %s FOR UPDATE", (message_id,)).fetchone()
            if row is None:
                return False
            current = row["state"]
            if current in FINAL or (state == "sent" and current == "sent"):
                return True
            c.execute(
                "UPDATE messages SET state = %(state)s, sent_at = coalesce(sent_at, %(now)s), "
                "delivered_at = CASE WHEN %(state)s = 'delivered' THEN %(now)s ELSE delivered_at END, "
                "last_error = CASE WHEN %(state)s = 'failed' THEN %(detail)s ELSE last_error END, "
                "updated_at = %(now)s WHERE id = %(id)s",
                {"state": state, "now": now, "detail": detail, "id": message_id},
            )
        return True

    def recover(self, reconciling: Iterable[str], reconcile_s: float, now: float) -> dict[str, int]:
        """When this hub starts the workers (it became the leader): messages left ``sending`` by a leader that died
        or a crash. On ``reconciling`` channels they wait ``reconcile_s`` as ``unknown`` for a delivery report; on
        the others they are queued again at once. Returns counts."""
        with self._tx() as c:
            c.execute(
                "UPDATE messages SET state = 'unknown', next_at = %s, updated_at = %s "
                "WHERE state = 'sending' AND channel = ANY(%s)",
                (now + reconcile_s, now, list(reconciling)),
            )
            a = c.rowcount
            c.execute(
                "UPDATE messages SET state = 'queued', next_at = %s, updated_at = %s WHERE state = 'sending'",
                (now, now),
            )
            b = c.rowcount
        return {"awaiting_report": a, "requeued": b}

    def release_unknown(self, now: float) -> int:
        with self._tx() as c:
            c.execute(
                "UPDATE messages SET state = 'queued', last_error = 'no delivery report after a crash: sent again', "
                "updated_at = %s WHERE state = 'unknown' AND next_at <= %s",
                (now, now),
            )
            return c.rowcount

    def messages(self, **where: Any) -> list[dict[str, Any]]:
        limit = int(where.pop("limit", 500))
        given = {k: v for k, v in where.items() if v is not None}
        unknown = set(given) - MESSAGE_FIELDS
        if unknown:
            raise ValueError(f"messages have no field {sorted(unknown)}")
        conds = [sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder()) for k in given]
        query = sql.SQL("SELECT {} FROM messages").format(sql.SQL(MESSAGE_COLUMNS))
        if conds:
            query = query + sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds)
        query = query + sql.SQL(" ORDER BY created_at, id LIMIT {}").format(sql.Placeholder())
        return self._rows(query, (*given.values(), limit))

    def counts(self, batch_id: str | None = None) -> dict[str, int]:
        rows = self._rows(
            "SELECT state, count(*) AS n FROM messages WHERE (%(b)s::text IS NULL OR batch_id = %(b)s) GROUP BY state",
            {"b": batch_id},
        )
        return {r["state"]: int(r["n"]) for r in rows}

    def claims(self) -> list[tuple[str, str | None]]:
        """(message id, the hub that claimed it) of the messages being sent: for inspection and tests."""
        rows = self._rows("SELECT id, claimed_by FROM messages WHERE state = 'sending' ORDER BY id")
        return [(r["id"], r["claimed_by"]) for r in rows]

    # -- audit ------------------------------------------------------------------------------------------------
    def audit(
        self, actor: str, action: str, subject: str, detail: dict[str, Any] | str, now: float | None = None
    ) -> None:
        text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False, sort_keys=True)
        with self._tx() as c:
            c.execute(
                "INSERT INTO audit (ts, actor, action, subject, detail) VALUES (%s, %s, %s, %s, %s)",
                (now or time.time(), actor, action, subject, text),
            )

    def changes(self, kind: str, digests: dict[str, str]) -> dict[str, list[str]]:
        """What differs from the last call for ``kind`` by any hub, and remember ``digests``. Hubs starting at once
        take turns (the table locked for the transaction), so each diff is against a whole earlier list."""
        with self._tx() as c:
            c.execute("LOCK TABLE known IN SHARE ROW EXCLUSIVE MODE")
            old = {r["key"]: r["digest"] for r in c.execute("SELECT key, digest FROM known WHERE kind = %s", (kind,))}
            c.execute("DELETE FROM known WHERE kind = %s", (kind,))
            if digests:
                c.execute(
                    "INSERT INTO known (kind, key, digest) "
                    "SELECT %s, k, d FROM unnest(%s::text[], %s::text[]) AS u(k, d)",
                    (kind, list(digests), list(digests.values())),
                )
        return {
            "added": sorted(set(digests) - set(old)),
            "removed": sorted(set(old) - set(digests)),
            "changed": sorted(k for k in set(old) & set(digests) if old[k] != digests[k]),
        }

    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT ts, actor, action, subject, detail FROM audit ORDER BY ts DESC, seq DESC LIMIT %s", (limit,)
        )


if TYPE_CHECKING:  # mypy checks that both outboxes keep the one interface
    from hub.warn.outbox import Outbox, OutboxLike

    def _both_are_outboxes(sqlite: Outbox, pg: PgOutbox) -> list[OutboxLike]:
        return [sqlite, pg]
