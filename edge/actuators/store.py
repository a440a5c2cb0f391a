"""The command ids a node has acted on, and the outputs it left on, kept in SQLite across restarts and power cuts.

An id is written before its actuator is touched: a crash in between makes a redelivery a refused replay (the siren
may have sounded once) rather than a second siren. Rows are kept until the command's expiry has passed, after which
the command is refused as expired anyway, so the table stays as small as the commands of the last hour.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from plumbing.sqlite import open_db, transaction
from wire.actuate import Outcome

_SCHEMA = """
CREATE TABLE IF NOT EXISTS commands (
    command_id TEXT PRIMARY KEY,
    actuator TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    expires TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outputs (
    actuator TEXT NOT NULL,
    output TEXT NOT NULL,
    until TEXT NOT NULL,
    PRIMARY KEY (actuator, output)
);
"""


class CommandStore:
    def __init__(self, path: Path | str) -> None:
        self.db = open_db(path, synchronous="FULL")  # a power cut must not forget that a siren was started
        self.db.conn.executescript(_SCHEMA)

    def claim(self, command_id: str, actuator: str, action: str, expires: datetime) -> Outcome | None:
        """Record ``command_id`` as started; None when it is new, else the outcome of its first arrival."""
        with transaction(self.db) as conn:
            row = conn.execute("SELECT outcome FROM commands WHERE command_id = ?", (command_id,)).fetchone()
            if row is not None:
                return Outcome(row[0])
            conn.execute(
                "INSERT INTO commands VALUES (?, ?, ?, ?, ?)",
                (command_id, actuator, action, Outcome.FAILED.value, expires.isoformat()),
            )
        return None

    def finish(self, command_id: str, outcome: Outcome) -> None:
        self.db.conn.execute("UPDATE commands SET outcome = ? WHERE command_id = ?", (outcome.value, command_id))

    def forget_expired(self, now: datetime) -> int:
        # Times are compared as instants: ISO strings with different offsets do not sort as times.
        rows = self.db.conn.execute("SELECT command_id, expires FROM commands").fetchall()
        gone = [(cid,) for cid, exp in rows if datetime.fromisoformat(exp) < now]
        if gone:
            with transaction(self.db) as conn:
                conn.executemany("DELETE FROM commands WHERE command_id = ?", gone)
        return len(gone)

    def output_on(self, actuator: str, output: str, until: datetime) -> None:
        self.db.conn.execute("INSERT OR REPLACE INTO outputs VALUES (?, ?, ?)", (actuator, output, until.isoformat()))

    def output_off(self, actuator: str, output: str) -> None:
        self.db.conn.execute("DELETE FROM outputs WHERE actuator = ? AND output = ?", (actuator, output))

    def outputs(self) -> list[tuple[str, str, datetime]]:
        rows = self.db.conn.execute("SELECT actuator, output, until FROM outputs").fetchall()
        return [(a, o, datetime.fromisoformat(u)) for a, o, u in rows]

    def close(self) -> None:
        self.db.conn.close()
