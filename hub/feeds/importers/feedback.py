"""Citizen-feedback records → daily ``citizen_feedback`` counts per unit, category and status.

Records are kept in SQLite by ``record_id`` so that a later file updating a record's status moves it between the
status counts instead of counting it twice; the affected days are recounted from every record known.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Literal

from hub.feeds.importers.base import FEED_KINDS, FeedKind, ImportContext, Rejection, SourceConfig, resolve
from hub.feeds.periods import VN_TZ, local_midnight_ms
from hub.feeds.rows import FeedbackRow
from hub.feeds.store import FeedState
from hub.store.line_protocol import line

MEASUREMENT = "citizen_feedback"
STATUSES = ("received", "processing", "resolved", "rejected")


class FeedbackSource(SourceConfig):
    type: Literal["feedback"]


@dataclass
class FeedbackItem:
    row: FeedbackRow
    admin_code: str
    province_code: str
    level: str

    @property
    def day(self) -> date:
        return self.row.received_at.astimezone(VN_TZ).date()


class _DryRun(Exception):
    """Raised inside the transaction of a dry run so that it rolls back."""


@FEED_KINDS.register("feedback", FeedbackSource)
class Feedback(FeedKind):
    row_model = FeedbackRow

    def check(self, rows: list[tuple[int, FeedbackRow]], ctx: ImportContext) -> tuple[list, list[Rejection]]:
        items: list[FeedbackItem] = []
        seen: dict[str, int] = {}
        rejected: list[Rejection] = []
        for number, row in rows:
            if row.record_id in seen:
                rejected.append(Rejection(number, f"record_id {row.record_id!r} repeats row {seen[row.record_id]}"))
                continue
            unit = resolve(ctx.units, row.admin_code, number, None)
            if isinstance(unit, Rejection):
                rejected.append(unit)
                continue
            seen[row.record_id] = number
            items.append(FeedbackItem(row, unit.code, unit.province_code, unit.level.value))
        return items, rejected

    def origins(self, items: list[FeedbackItem]) -> list[tuple[list[str], str]]:
        return [([it.row.admin_code], it.admin_code) for it in items]

    def commit(self, items: list[FeedbackItem], ctx: ImportContext) -> int:
        state = ctx.state if ctx.state is not None else FeedState(":memory:")
        conn = state.conn
        written = 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            touched = self._upsert(conn, items)
            lines = self._recount(conn, touched)
            written = len(lines)
            if ctx.dry_run or ctx.sink is None:
                raise _DryRun
            ctx.sink.write(lines)  # raises when InfluxDB did not take them: the records roll back with it
        except _DryRun:
            conn.execute("ROLLBACK")
            return written
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return written

    @staticmethod
    def _upsert(conn, items: list[FeedbackItem]) -> dict[tuple[str, str, str], set[str]]:
        """Store the records; returns each touched (day, unit, province) with the categories to recount there."""
        touched: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for it in items:
            old = conn.execute(
                "SELECT day, admin_code, province_code, category FROM feedback_records WHERE record_id = ?",
                (it.row.record_id,),
            ).fetchone()
            if old:
                # A record that moved day, unit or category leaves a count to lower where it was.
                touched[(old[0], old[1], old[2])].add(old[3])
            r = it.row
            resolve_h = (r.resolved_at - r.received_at).total_seconds() / 3600 if r.resolved_at else None
            conn.execute(
                "INSERT OR REPLACE INTO feedback_records (record_id, admin_code, province_code, level, category, "
                "status, day, received_at, resolved_at, resolve_h, channel) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    r.record_id,
                    it.admin_code,
                    it.province_code,
                    it.level,
                    r.category,
                    r.status,
                    it.day.isoformat(),
                    r.received_at.isoformat(),
                    r.resolved_at.isoformat() if r.resolved_at else None,
                    resolve_h,
                    r.channel or "",
                ),
            )
            touched[(it.day.isoformat(), it.admin_code, it.province_code)].add(r.category)
        return touched

    @staticmethod
    def _recount(conn, touched: dict[tuple[str, str, str], set[str]]) -> list[str]:
        """Counts for every category seen on a touched day and unit, for every status (zeros included, so a
        record that changed status or category leaves no stale count behind)."""
        lines = []
        for (day, admin, province), was in sorted(touched.items()):
            records = conn.execute(
                "SELECT category, status, resolve_h FROM feedback_records WHERE day = ? AND admin_code = ?",
                (day, admin),
            ).fetchall()
            counts: dict[tuple[str, str], int] = defaultdict(int)
            hours: dict[str, list[float]] = defaultdict(list)
            for category, status, resolve_h in records:
                counts[(category, status)] += 1
                if status == "resolved" and resolve_h is not None:
                    hours[category].append(resolve_h)
            ts = local_midnight_ms(date.fromisoformat(day))
            for category in sorted({c for c, _ in counts} | was):
                for status in STATUSES:
                    fields: dict[str, float | int | str | bool] = {"count": counts.get((category, status), 0)}
                    if status == "resolved" and hours.get(category):
                        fields["median_resolve_h"] = float(statistics.median(hours[category]))
                    tags = {"admin_code": admin, "province_code": province, "category": category, "status": status}
                    lines.append(line(MEASUREMENT, tags, fields, ts))
        return lines
