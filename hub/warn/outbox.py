"""The durable record of every public warning: batches (one alarm change × one policy) and messages (one recipient
× one channel), with their states, attempts and receipts, and the audit trail of officers' decisions.

SQLite in WAL mode, one connection guarded by a lock (the engine's writer thread submits, the event loop sends, the
HTTP API reads). Every state change is one short transaction, so a crash loses nothing that was acknowledged:

- a batch is stored before ``submit`` returns, so the engine may mark its event dispatched;
- messages are created from a batch with ``INSERT OR IGNORE`` on their idempotency key, so expanding a batch twice
  (after a crash mid-way) creates each message once;
- a message is marked ``sending`` before the channel is called. A crash in the call leaves it ambiguous: the
  provider may or may not have it. At the next start such messages become ``unknown``; a channel whose provider sends
  delivery reports gets ``reconcile_s`` for a report to settle it (then it is resent), the others are resent at once
  (at least once: their providers cannot be asked).

States of a message: queued -> sending -> sent (the provider took it) -> delivered | failed; or queued/sending ->
failed (final error, or still failing after ``max_age_s``); sending -> unknown (crash) -> sent/delivered (a report
came) or queued (none came). States of a batch: awaiting_approval -> approved | rejected | superseded; approved ->
expanded (its messages exist).

``OutboxLike`` is the interface ``PublicWarnings`` uses; ``PgOutbox`` (hub/warn/pg_outbox.py) is the same record in
PostgreSQL, shared by the hubs of a cluster. This one is local to one hub.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches(
    id TEXT PRIMARY KEY,
    alarm_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    transition TEXT NOT NULL,
    area TEXT NOT NULL,
    severity TEXT NOT NULL,
    alarm TEXT NOT NULL,
    state TEXT NOT NULL,
    approval TEXT NOT NULL,
    release_at REAL NOT NULL,
    created_at REAL NOT NULL,
    decided_by TEXT,
    decided_at REAL,
    comment TEXT,
    messages INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS batches_alarm ON batches(alarm_id, policy);
CREATE INDEX IF NOT EXISTS batches_state ON batches(state);
CREATE TABLE IF NOT EXISTS messages(
    id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    address TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT,
    provider_id TEXT,
    created_at REAL NOT NULL,
    sent_at REAL,
    delivered_at REAL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_due ON messages(channel, state, next_at);
CREATE INDEX IF NOT EXISTS messages_batch ON messages(batch_id);
CREATE TABLE IF NOT EXISTS cap(
    identifier TEXT PRIMARY KEY,
    alarm_id TEXT NOT NULL,
    sent REAL NOT NULL,
    msg_type TEXT NOT NULL,
    headline TEXT NOT NULL,
    alarm TEXT NOT NULL,
    xml BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS cap_alarm ON cap(alarm_id, sent);
CREATE TABLE IF NOT EXISTS known(
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS audit(
    ts REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""

MESSAGE_STATES = ("queued", "sending", "unknown", "sent", "delivered", "failed")
BATCH_STATES = ("awaiting_approval", "approved", "expanded", "rejected", "superseded")
FINAL = ("delivered", "failed")


@dataclass(frozen=True)
class Due:
    id: str
    body: str
    attempts: int
    created_at: float


class OutboxLike(Protocol):
    """What ``PublicWarnings`` and the API use of an outbox: ``Outbox`` (SQLite, one hub) or ``PgOutbox``
    (PostgreSQL, shared by a cluster's hubs). Every method blocks: call it off the event loop."""

    # How often idle workers look for work another hub made (None: only this process adds work, and it wakes them).
    idle_poll_s: float | None

    def close(self) -> None: ...
    def add_batch(self, row: dict[str, Any], supersede_pending: bool) -> bool: ...
    def earlier_states(self, alarm_id: str, policy: str) -> set[str]: ...
    def decide(self, batch_id: str, approve: bool, actor: str, comment: str, now: float) -> dict[str, Any]: ...
    def batch(self, batch_id: str) -> dict[str, Any] | None: ...
    def batches(self, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]: ...
    def to_expand(self) -> list[dict[str, Any]]: ...
    def add_messages(self, batch_id: str, rows: list[dict[str, Any]], done: bool) -> int: ...
    def cap_refs(self, alarm_id: str) -> list[dict[str, Any]]: ...
    def add_cap(
        self, identifier: str, alarm_json: str, sent: float, msg_type: str, headline: str, xml: bytes
    ) -> bool: ...
    def cap(self, identifier: str) -> bytes | None: ...
    def cap_active(self) -> list[dict[str, Any]]: ...
    def claim(self, channel: str, now: float, limit: int) -> list[Due]: ...
    def next_due(self, channel: str) -> float | None: ...
    def mark_sent(self, message_id: str, state: str, provider_id: str | None, detail: str, now: float) -> None: ...
    def mark_retry(self, message_id: str, error: str, next_at: float, now: float) -> None: ...
    def mark_failed(self, message_id: str, error: str, now: float) -> None: ...
    def report(self, message_id: str, state: str, detail: str, now: float) -> bool: ...
    def recover(self, reconciling: Iterable[str], reconcile_s: float, now: float) -> dict[str, int]: ...
    def release_unknown(self, now: float) -> int: ...
    def messages(self, **where: Any) -> list[dict[str, Any]]: ...
    def counts(self, batch_id: str | None = None) -> dict[str, int]: ...
    def audit(
        self, actor: str, action: str, subject: str, detail: dict[str, Any] | str, now: float | None = None
    ) -> None: ...
    def changes(self, kind: str, digests: dict[str, str]) -> dict[str, list[str]]: ...
    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]: ...


class Outbox:
    idle_poll_s: float | None = None  # one process adds all the work, and wakes its workers itself

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, q: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(q, tuple(args)).fetchall()]

    # -- batches ------------------------------------------------------------------------------------------------
    def add_batch(self, row: dict[str, Any], supersede_pending: bool) -> bool:
        """Store a batch (False: it exists already). ``supersede_pending``: earlier batches of the same alarm and
        policy still awaiting approval are superseded by this one (the officer decides on the newest)."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM batches WHERE id = ?", (row["id"],)).fetchone():
                return False
            if supersede_pending:
                db.execute(
                    "UPDATE batches SET state = 'superseded', decided_at = ?, comment = ? "
                    "WHERE alarm_id = ? AND policy = ? AND state = 'awaiting_approval'",
                    (row["created_at"], f"superseded by {row['id']}", row["alarm_id"], row["policy"]),
                )
            cols = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            db.execute(f"INSERT INTO batches ({cols}) VALUES ({marks})", tuple(row.values()))
        return True

    def earlier_states(self, alarm_id: str, policy: str) -> set[str]:
        """States of the batches already stored for one alarm and policy."""
        return {
            r["state"]
            for r in self._rows("SELECT state FROM batches WHERE alarm_id = ? AND policy = ?", (alarm_id, policy))
        }

    def decide(self, batch_id: str, approve: bool, actor: str, comment: str, now: float) -> dict[str, Any]:
        """Approve or reject a batch awaiting approval; ValueError (with the batch's state) otherwise."""
        with self._tx() as db:
            row = db.execute("SELECT state FROM batches WHERE id = ?", (batch_id,)).fetchone()
            if row is None:
                raise KeyError(batch_id)
            if row["state"] != "awaiting_approval":
                raise ValueError(f"batch {batch_id} is {row['state']}, not awaiting approval")
            state = "approved" if approve else "rejected"
            db.execute(
                "UPDATE batches SET state = ?, decided_by = ?, decided_at = ?, comment = ? WHERE id = ?",
                (state, actor, now, comment, batch_id),
            )
            db.execute(
                "INSERT INTO audit VALUES (?, ?, ?, ?, ?)",
                (now, actor, "approve" if approve else "reject", batch_id, comment),
            )
        return self.batch(batch_id) or {}

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM batches WHERE id = ?", (batch_id,))
        return rows[0] if rows else None

    def batches(self, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if state is None:
            return self._rows("SELECT * FROM batches ORDER BY created_at DESC LIMIT ?", (limit,))
        return self._rows("SELECT * FROM batches WHERE state = ? ORDER BY created_at DESC LIMIT ?", (state, limit))

    def to_expand(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM batches WHERE state = 'approved' ORDER BY created_at")

    def add_messages(self, batch_id: str, rows: list[dict[str, Any]], done: bool) -> int:
        """Messages of a batch (each once, whatever was inserted before); ``done``: the batch is fully expanded."""
        added = 0
        with self._tx() as db:
            for r in rows:
                cur = db.execute(
                    "INSERT OR IGNORE INTO messages (id, batch_id, channel, recipient_id, address, body, state, "
                    "next_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                    (
                        r["id"],
                        batch_id,
                        r["channel"],
                        r["recipient_id"],
                        r["address"],
                        r["body"],
                        r["next_at"],
                        r["created_at"],
                        r["created_at"],
                    ),
                )
                added += cur.rowcount
            if done:
                n = db.execute("SELECT count(*) FROM messages WHERE batch_id = ?", (batch_id,)).fetchone()[0]
                db.execute("UPDATE batches SET state = 'expanded', messages = ? WHERE id = ?", (n, batch_id))
        return added

    # -- CAP ----------------------------------------------------------------------------------------------------
    def cap_refs(self, alarm_id: str) -> list[dict[str, Any]]:
        """The CAP messages already published for an alarm, oldest first."""
        return self._rows("SELECT identifier, sent FROM cap WHERE alarm_id = ? ORDER BY sent", (alarm_id,))

    def add_cap(self, identifier: str, alarm_json: str, sent: float, msg_type: str, headline: str, xml: bytes) -> bool:
        alarm_id = json.loads(alarm_json)["id"]
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO cap VALUES (?, ?, ?, ?, ?, ?, ?)",
                (identifier, alarm_id, sent, msg_type, headline, alarm_json, xml),
            )
        return cur.rowcount == 1

    def cap(self, identifier: str) -> bytes | None:
        rows = self._rows("SELECT xml FROM cap WHERE identifier = ?", (identifier,))
        return bytes(rows[0]["xml"]) if rows else None

    def cap_active(self) -> list[dict[str, Any]]:
        """The newest CAP message of each alarm whose newest is not a Cancel: what the Atom feed lists."""
        return self._rows(
            "SELECT c.identifier, c.alarm_id, c.sent, c.msg_type, c.headline, c.alarm FROM cap c "
            "JOIN (SELECT alarm_id, max(sent) AS s FROM cap GROUP BY alarm_id) n ON c.alarm_id = n.alarm_id "
            "AND c.sent = n.s WHERE c.msg_type != 'Cancel' ORDER BY c.sent DESC"
        )

    # -- messages -----------------------------------------------------------------------------------------------
    def claim(self, channel: str, now: float, limit: int) -> list[Due]:
        """Up to ``limit`` due messages of one channel, oldest first, marked ``sending`` before they are returned."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT id, body, attempts, created_at FROM messages WHERE channel = ? AND state = 'queued' "
                "AND next_at <= ? ORDER BY next_at, created_at LIMIT ?",
                (channel, now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE messages SET state = 'sending', attempts = attempts + 1, updated_at = ? WHERE id = ?",
                [(now, r["id"]) for r in rows],
            )
        return [Due(r["id"], r["body"], r["attempts"] + 1, r["created_at"]) for r in rows]

    def next_due(self, channel: str) -> float | None:
        rows = self._rows("SELECT min(next_at) AS t FROM messages WHERE channel = ? AND state = 'queued'", (channel,))
        return rows[0]["t"] if rows and rows[0]["t"] is not None else None

    def mark_sent(self, message_id: str, state: str, provider_id: str | None, detail: str, now: float) -> None:
        """The provider took it (``sent``) or it is delivered; a report that came first is not overwritten."""
        with self._tx() as db:
            db.execute(
                "UPDATE messages SET state = CASE WHEN state IN ('delivered', 'failed') THEN state ELSE ? END, "
                "provider_id = coalesce(?, provider_id), sent_at = coalesce(sent_at, ?), "
                "delivered_at = CASE WHEN ? = 'delivered' THEN coalesce(delivered_at, ?) ELSE delivered_at END, "
                "last_error = CASE WHEN ? != '' THEN ? ELSE last_error END, updated_at = ? WHERE id = ?",
                (state, provider_id, now, state, now, detail, detail, now, message_id),
            )

    def mark_retry(self, message_id: str, error: str, next_at: float, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE messages SET state = 'queued', last_error = ?, next_at = ?, updated_at = ? "
                "WHERE id = ? AND state = 'sending'",
                (error, next_at, now, message_id),
            )

    def mark_failed(self, message_id: str, error: str, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE messages SET state = 'failed', last_error = ?, updated_at = ? WHERE id = ? "
                "AND state NOT IN ('delivered', 'failed')",
                (error, now, message_id),
            )

    def report(self, message_id: str, state: str, detail: str, now: float) -> bool:
        """A delivery report: moves a message forward (to sent, delivered or failed), never back; False if unknown."""
        if state not in ("sent", "delivered", "failed"):
            raise ValueError(f"a report says sent, delivered or failed, not {state!r}")
        with self._tx() as db:
            row = db.execute("SELECT state FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                return False
            current = row["state"]
            if current in FINAL or (state == "sent" and current == "sent"):
                return True
            db.execute(
                "UPDATE messages SET state = ?, sent_at = coalesce(sent_at, ?), "
                "delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END, "
                "last_error = CASE WHEN ? = 'failed' THEN ? ELSE last_error END, updated_at = ? WHERE id = ?",
                (state, now, state, now, state, detail, now, message_id),
            )
        return True

    def recover(self, reconciling: Iterable[str], reconcile_s: float, now: float) -> dict[str, int]:
        """At start: messages left ``sending`` by a crash. On ``reconciling`` channels they wait ``reconcile_s`` as
        ``unknown`` for a delivery report; on the others they are queued again at once. Returns counts."""
        recon = list(reconciling)
        with self._tx() as db:
            marks = ", ".join("?" for _ in recon) or "''"
            a = db.execute(
                f"UPDATE messages SET state = 'unknown', next_at = ?, updated_at = ? "
                f"WHERE state = 'sending' AND channel IN ({marks})",
                (now + reconcile_s, now, *recon),
            ).rowcount
            b = db.execute(
                "UPDATE messages SET state = 'queued', next_at = ?, updated_at = ? WHERE state = 'sending'",
                (now, now),
            ).rowcount
        return {"awaiting_report": a, "requeued": b}

    def release_unknown(self, now: float) -> int:
        """``unknown`` messages whose report did not come in time: sent again."""
        with self._tx() as db:
            return db.execute(
                "UPDATE messages SET state = 'queued', last_error = 'no delivery report after a crash: sent again', "
                "updated_at = ? WHERE state = 'unknown' AND next_at <= ?",
                (now, now),
            ).rowcount

    def messages(self, **where: Any) -> list[dict[str, Any]]:
        limit = int(where.pop("limit", 500))
        conds = [f"{k} = ?" for k in where if where[k] is not None]
        args = [v for v in where.values() if v is not None]
        q = "SELECT * FROM messages" + (" WHERE " + " AND ".join(conds) if conds else "")
        return self._rows(q + " ORDER BY created_at, id LIMIT ?", (*args, limit))

    def counts(self, batch_id: str | None = None) -> dict[str, int]:
        q = "SELECT state, count(*) AS n FROM messages"
        args: tuple[Any, ...] = ()
        if batch_id is not None:
            q, args = q + " WHERE batch_id = ?", (batch_id,)
        return {r["state"]: r["n"] for r in self._rows(q + " GROUP BY state", args)}

    def audit(
        self, actor: str, action: str, subject: str, detail: dict[str, Any] | str, now: float | None = None
    ) -> None:
        text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False, sort_keys=True)
        with self._tx() as db:
            db.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?)", (now or time.time(), actor, action, subject, text))

    def changes(self, kind: str, digests: dict[str, str]) -> dict[str, list[str]]:
        """What differs from the last call for ``kind`` (keys added, removed, changed), and remember ``digests``:
        how a recipient list or the policies changed between two starts, for the audit trail."""
        with self._tx() as db:
            old = {r["key"]: r["digest"] for r in db.execute("SELECT key, digest FROM known WHERE kind = ?", (kind,))}
            db.execute("DELETE FROM known WHERE kind = ?", (kind,))
            db.executemany("INSERT INTO known VALUES (?, ?, ?)", [(kind, k, d) for k, d in digests.items()])
        return {
            "added": sorted(set(digests) - set(old)),
            "removed": sorted(set(old) - set(digests)),
            "changed": sorted(k for k in set(old) & set(digests) if old[k] != digests[k]),
        }

    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM audit ORDER BY ts DESC LIMIT ?", (limit,))
