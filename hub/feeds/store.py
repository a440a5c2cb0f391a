"""The feeds' SQLite state: dead-lettered rows, the import log, and citizen-feedback records (for daily counts)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plumbing.sqlite import open_db

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_dead_letters (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, source TEXT NOT NULL, kind TEXT, row INTEGER, reason TEXT NOT NULL,
    raw TEXT
);
CREATE TABLE IF NOT EXISTS feed_imports (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, source TEXT NOT NULL, kind TEXT, format_version INTEGER,
    rows INTEGER NOT NULL, accepted INTEGER NOT NULL, rejected INTEGER NOT NULL, points INTEGER NOT NULL,
    committed INTEGER NOT NULL, error TEXT
);
CREATE TABLE IF NOT EXISTS feedback_records (
    record_id TEXT PRIMARY KEY, admin_code TEXT NOT NULL, province_code TEXT NOT NULL, level TEXT NOT NULL,
    category TEXT NOT NULL, status TEXT NOT NULL, day TEXT NOT NULL, received_at TEXT NOT NULL, resolved_at TEXT,
    resolve_h REAL, channel TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_by_day ON feedback_records (day, admin_code);
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    source: str
    kind: str | None
    row: int | None
    reason: str
    raw: dict[str, Any] | None


class FeedState:
    """One SQLite file (``feeds.db``) in the feeds' data directory."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.db = open_db(self.path)
        self.conn: sqlite3.Connection = self.db.conn
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def record_import(
        self,
        source: str,
        kind: str | None,
        format_version: int | None,
        counts: tuple[int, int, int, int],
        committed: bool,
        error: str | None,
        dead: Iterable[DeadLetter],
    ) -> None:
        """The import's log line and its dead letters, in one transaction."""
        rows, accepted, rejected, points = counts
        now = time.time()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute(
                "INSERT INTO feed_imports (at, source, kind, format_version, rows, accepted, rejected, points, "
                "committed, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now, source, kind, format_version, rows, accepted, rejected, points, int(committed), error),
            )
            self.conn.executemany(
                "INSERT INTO feed_dead_letters (at, source, kind, row, reason, raw) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (now, d.source, d.kind, d.row, d.reason, json.dumps(d.raw, default=str, ensure_ascii=False))
                    for d in dead
                ],
            )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def dead_letter_count(self, source: str | None = None) -> int:
        if source is None:
            return int(self.conn.execute("SELECT count(*) FROM feed_dead_letters").fetchone()[0])
        return int(
            self.conn.execute("SELECT count(*) FROM feed_dead_letters WHERE source = ?", (source,)).fetchone()[0]
        )

    def dead_letters(self, source: str | None = None) -> list[DeadLetter]:
        sql = "SELECT source, kind, row, reason, raw FROM feed_dead_letters"
        args: tuple[str, ...] = ()
        if source is not None:
            sql, args = sql + " WHERE source = ?", (source,)
        return [
            DeadLetter(s, k, r, reason, json.loads(raw) if raw else None)
            for s, k, r, reason, raw in self.conn.execute(sql + " ORDER BY id", args)
        ]

    def imports(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM feed_imports ORDER BY id")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur]
