"""Opening the project's SQLite files the same way everywhere: WAL, explicit transactions.

The standard library's ``sqlite3`` does all of it (docs/install.md, "Why no sqlite-utils"): ``Database`` is the one
thing callers hold, a connection in autocommit mode with WAL switched on.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Database:
    """An open SQLite file: ``conn`` is the raw connection (autocommit; group writes with ``transaction(db)``)."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


def open_db(path: Path | str, synchronous: str = "NORMAL") -> Database:
    """A WAL database in autocommit mode; group writes with ``transaction(db)``.

    WAL with synchronous=NORMAL survives a process kill (SIGKILL); FULL also survives a power cut.
    """
    if str(path) == ":memory:":
        return _configure(sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False), synchronous)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Owner-only: these files hold tokens' audit trails, raw payloads, camera snapshots. SQLite gives its -wal and
    # -shm files the database file's mode, so creating it 0600 covers all three.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if f.exists() and f.stat().st_mode & 0o077:
            f.chmod(0o600)  # made by an older version, world-readable
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    return _configure(conn, synchronous)


def _configure(conn: sqlite3.Connection, synchronous: str) -> Database:
    # journal_mode=WAL is persistent in the file; asking again is cheap and answers the mode in force (an in-memory
    # database stays 'memory').
    conn.execute("PRAGMA journal_mode=WAL").fetchone()
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=30000")
    return Database(conn)


@contextmanager
def transaction(db: Database) -> Iterator[sqlite3.Connection]:
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
