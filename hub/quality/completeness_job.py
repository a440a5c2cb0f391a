"""Completeness from storage: readings stored per sensor for today and yesterday (local days, UTC+7) against the
readings its interval expects; a ``completeness`` point per sensor and day, and the reports the alert engine
judges (``AlertEngine.completeness``).

Counted from InfluxDB rather than in the ingest path: a reading the edge outbox delivers hours late (after a link
outage) still counts for the day it was measured on, and a hub restart loses nothing. One InfluxQL query per
quantity in the registry, days bucketed by ``GROUP BY time(1d, 17h)`` (local midnight is 17:00 UTC), so a pass
costs a few queries whatever the number of stations. Every stored reading counts, flagged or not: completeness
is about what arrived, the flags are about what it is worth.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from hub.quality.completeness import DayCompleteness, day_bounds, expected_readings, local_day
from hub.store.line_protocol import line
from hub.store.state import NodeInfo
from wire.messages import to_epoch_ms

log = logging.getLogger(__name__)

MEASUREMENT = "completeness"
# GROUP BY time(1d) buckets start at UTC midnight; shifted by 17 h they start at 00:00 in UTC+7 (no DST).
LOCAL_DAY_BUCKET = "time(1d, 17h)"

Report = tuple[str, str, DayCompleteness]  # (node_id, sensor_id, the day so far): AlertEngine.completeness


class Queries(Protocol):
    """What the job needs of an InfluxDB client: hub.store.influx_query.InfluxReader."""

    def query(self, q: str) -> list[dict[str, Any]]: ...


@dataclass
class CompletenessResult:
    lines: list[str] = field(default_factory=list)  # ``completeness`` points for InfluxDB
    reports: list[Report] = field(default_factory=list)  # for AlertEngine.completeness


@dataclass(frozen=True)
class _Sensor:
    node_id: str
    sensor_id: str
    quantity: str
    interval_s: float
    admin_code: str


def _sensors(nodes: Iterable[NodeInfo]) -> list[_Sensor]:
    out = []
    for node in nodes:
        for sensor_id, quantity, interval_s in node.sensors:
            if interval_s and interval_s > 0:  # no interval, no expectation: nothing to judge it by
                out.append(_Sensor(node.node_id, sensor_id, quantity, float(interval_s), node.admin_code or ""))
    return out


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def count_query(quantities: Iterable[str], start: datetime, end: datetime, retention_policy: str | None = None) -> str:
    """Readings per (measurement, node, sensor, local day) in [start, end)."""
    rp = f"{_quote(retention_policy)}." if retention_policy else ""
    sources = ", ".join(f"{rp}{_quote(q)}" for q in sorted(set(quantities)))
    return (
        f'SELECT count("value") FROM {sources} '
        f"WHERE time >= {to_epoch_ms(start)}ms AND time < {to_epoch_ms(end)}ms "
        f'GROUP BY {LOCAL_DAY_BUCKET}, "node_id", "sensor_id" fill(none)'
    )


def count_readings(
    reader: Queries,
    quantities: Iterable[str],
    days: list[date],
    until: datetime | None = None,
    retention_policy: str | None = None,
) -> dict[tuple[str, str, str, date], int]:
    """(quantity, node_id, sensor_id, local day) -> readings stored, for consecutive ``days``, up to ``until``.

    ``until`` (now) matches what is received with what is expected so far: a pass run over a replayed or
    back-filled period counts the same as it would have then.
    """
    quantities = list(quantities)
    if not quantities or not days:
        return {}
    start, end = day_bounds(min(days))[0], day_bounds(max(days))[1]
    if until is not None:
        end = min(end, until)
    counts: dict[tuple[str, str, str, date], int] = {}
    for row in reader.query(count_query(quantities, start, end, retention_policy)):
        n = row.get("count")
        if not n:
            continue
        bucket = datetime.fromtimestamp(row["time"] / 1000, tz=start.tzinfo)
        key = (row["measurement"], row.get("node_id") or "", row.get("sensor_id") or "", local_day(bucket))
        counts[key] = counts.get(key, 0) + int(n)
    return counts


def completeness_pass(
    reader: Queries, nodes: Iterable[NodeInfo], now: datetime, retention_policy: str | None = None
) -> CompletenessResult:
    """Yesterday (whole) and today (so far) for every registered sensor with an interval.

    A sensor with nothing stored gets received 0: silence is the worst completeness, not a missing row. Each day
    is one point per sensor at the day's local start, rewritten by every pass until the day is over (yesterday
    is rewritten too, so readings an outbox delivers after midnight still land on it).
    """
    sensors = _sensors(nodes)
    today = local_day(now)
    days = [today - timedelta(days=1), today]
    counts = count_readings(reader, {s.quantity for s in sensors}, days, now, retention_policy)
    result = CompletenessResult()
    for day in days:
        day_start_ms = to_epoch_ms(day_bounds(day)[0])
        for s in sensors:
            report = DayCompleteness(
                day,
                counts.get((s.quantity, s.node_id, s.sensor_id, day), 0),
                expected_readings(s.interval_s, day, until=now),
            )
            if report.expected <= 0:
                continue  # the first instant of a day: nothing owed yet
            tags = {"node_id": s.node_id, "sensor_id": s.sensor_id, "admin_code": s.admin_code, "quantity": s.quantity}
            fields: dict[str, float | int | bool | str] = {
                "received": report.received,
                "expected": round(report.expected, 3),
                "ratio": round(report.ratio, 4),
            }
            result.lines.append(line(MEASUREMENT, tags, fields, day_start_ms))
            result.reports.append((s.node_id, s.sensor_id, report))
    return result


class CompletenessJob:
    """What the hub calls every ``QualityConfig.completeness.every_s``: ``run(nodes, now)`` off the event loop
    (its query blocks), then stores ``lines`` and hands ``reports`` to ``AlertEngine.completeness``."""

    def __init__(self, reader: Queries, retention_policy: str | None = None) -> None:
        self.reader = reader
        self.retention_policy = retention_policy

    def run(self, nodes: Iterable[NodeInfo], now: datetime) -> CompletenessResult:
        return completeness_pass(self.reader, nodes, now, self.retention_policy)
