"""Durable, bounded, ordered outbox: every message a node sends is written here first.

A message is removed only once it is confirmed (by the broker's PUBACK or, in end-to-end mode, by the hub's ack),
so a broker outage, a cut link or a power cut loses nothing that was written. The sequence number of each message
is its primary key and comes from a counter kept in the same file, so it only grows across restarts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from plumbing.sqlite import open_db, transaction
from wire.nodeconfig import WhenFull


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


SET_ASIDE_KEEP = 100
SET_ASIDE_KEEP_BYTES = 64 * 1024


class Outbox:
    """Single-threaded: the node's event loop is the only user."""

    def __init__(
        self,
        path: Path | str,
        max_messages: int = 500_000,
        when_full: WhenFull = WhenFull.DROP_OLDEST,
        synchronous: str = "FULL",
    ) -> None:
        self.path = Path(path)
        self.max_messages = max_messages
        self.when_full = when_full
        self.db = open_db(self.path, synchronous=synchronous)
        self._conn = self.db.conn
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, "
            "payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, created REAL NOT NULL)"
        )
        self._conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        # Messages no broker would take (over its packet size), kept for a technician: the newest SET_ASIDE_KEEP.
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS set_aside (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, "
            "size INTEGER NOT NULL, reason TEXT NOT NULL, payload BLOB NOT NULL, created REAL NOT NULL)"
        )
        with transaction(self.db) as c:
            for key in ("next_seq", "dropped", "rejected", "oversize"):
                c.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, 1 if key == "next_seq" else 0))
            # A restored or copied file may hold rows past the counter; never reuse their numbers.
            c.execute(
                "UPDATE meta SET value = max(value, (SELECT coalesce(max(seq), 0) + 1 FROM messages)) "
                "WHERE key = 'next_seq'"
            )
        self._depth = int(self._conn.execute("SELECT count(*) FROM messages").fetchone()[0])
        self._dropped = self._meta("dropped")
        self._rejected = self._meta("rejected")
        self._oversize = self._meta("oversize")

    # -- counters -----------------------------------------------------------------------------------------
    def _meta(self, key: str) -> int:
        return int(self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def dropped(self) -> int:
        """Messages removed unsent by the drop_oldest policy."""
        return self._dropped

    @property
    def rejected(self) -> int:
        """New messages refused by the reject_new policy."""
        return self._rejected

    @property
    def oversize(self) -> int:
        """Messages set aside because they exceed the broker's packet size."""
        return self._oversize

    def set_aside(self, row: OutboxRow, reason: str) -> None:
        """Move an undeliverable message out of the queue into ``set_aside`` (kept, bounded, counted)."""
        with transaction(self.db) as c:
            removed = c.execute("DELETE FROM messages WHERE seq = ?", (row.seq,)).rowcount
            c.execute(
                "INSERT OR REPLACE INTO set_aside VALUES (?, ?, ?, ?, ?, ?)",
                (row.seq, row.topic, len(row.payload), reason, row.payload[:SET_ASIDE_KEEP_BYTES], time.time()),
            )
            c.execute(
                "DELETE FROM set_aside WHERE seq NOT IN (SELECT seq FROM set_aside ORDER BY seq DESC LIMIT ?)",
                (SET_ASIDE_KEEP,),
            )
            c.execute("UPDATE meta SET value = value + 1 WHERE key = 'oversize'")
        self._depth -= removed
        self._oversize += 1

    def oldest_age_s(self) -> float:
        row = self._conn.execute("SELECT created FROM messages ORDER BY seq LIMIT 1").fetchone()
        return 0.0 if row is None else max(0.0, time.time() - row[0])

    # -- writing ------------------------------------------------------------------------------------------
    def allocate_seq(self) -> int:
        """A sequence number for a message that does not go through the outbox (status, last will)."""
        with transaction(self.db) as c:
            seq = c.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0]
            c.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq + 1,))
        return int(seq)

    def enqueue(
        self, topic: str, make_payload: Callable[[int], bytes], qos: int = 1, retain: bool = False
    ) -> int | None:
        """Store one message built for its sequence number; returns the number, or None when refused."""
        return self.enqueue_many([(topic, make_payload)], qos=qos, retain=retain)[0]

    def enqueue_many(
        self, items: Iterable[tuple[str, Callable[[int], bytes]]], qos: int = 1, retain: bool = False
    ) -> list[int | None]:
        """Store several messages in one transaction (one fsync)."""
        out: list[int | None] = []
        now = time.time()
        with transaction(self.db) as c:
            seq = c.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0]
            for topic, make_payload in items:
                if self._depth >= self.max_messages:
                    if self.when_full is WhenFull.REJECT_NEW:
                        c.execute("UPDATE meta SET value = value + 1 WHERE key = 'rejected'")
                        self._rejected += 1
                        out.append(None)
                        continue
                    removed = c.execute("DELETE FROM messages WHERE seq = (SELECT min(seq) FROM messages)").rowcount
                    c.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped'", (removed,))
                    self._dropped += removed
                    self._depth -= removed
                c.execute(
                    "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
                    (seq, topic, make_payload(seq), qos, int(retain), now),
                )
                self._depth += 1
                out.append(seq)
                seq += 1
            c.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq,))
        return out

    # -- reading and removing -----------------------------------------------------------------------------
    def after(self, seq: int, limit: int) -> list[OutboxRow]:
        """The oldest stored messages with a sequence number above ``seq``, in order."""
        rows = self._conn.execute(
            "SELECT seq, topic, payload, qos, retain FROM messages WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [OutboxRow(r[0], r[1], bytes(r[2]), r[3], bool(r[4])) for r in rows]

    def remove(self, seqs: Iterable[int]) -> int:
        """Delete confirmed messages; unknown numbers are ignored (a late duplicate confirmation)."""
        batch = [(s,) for s in seqs]
        if not batch:
            return 0
        with transaction(self.db) as c:
            before = c.total_changes
            c.executemany("DELETE FROM messages WHERE seq = ?", batch)
            removed = c.total_changes - before
        self._depth -= removed
        return removed

    def remove_ranges(self, ranges: Iterable[tuple[int, int]]) -> int:
        batch = list(ranges)
        if not batch:
            return 0
        with transaction(self.db) as c:
            before = c.total_changes
            c.executemany("DELETE FROM messages WHERE seq BETWEEN ? AND ?", batch)
            removed = c.total_changes - before
        self._depth -= removed
        return removed

    def close(self) -> None:
        self._conn.close()
