"""The situation views' reads of InfluxDB: a few InfluxQL queries, each grouped by tags for every station at once.

Readings are stored one measurement per quantity (``water_level``, ``rainfall``, ``reservoir_level``, ...) with the
tags ``node_id`` and ``sensor_id`` and the fields ``value`` and ``quality`` (hub/ingest/processor.py); readings
flagged ``bad`` are left out, as the alert engine leaves them out. The engine's derived levels (``fire_danger``) and
the forecasts (``stage_forecast``, hub/forecast/store.py) sit beside them.

Everything here blocks: the API runs it in a worker thread with a fresh reader (``ApiContext.influx``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.forecast.store import Queryable, to_ms

TREND_WINDOW = timedelta(hours=3)  # as the flood rule's rate of rise (hub/alerts/evaluate/flood.py)
TREND_WINDOW_MS = int(TREND_WINDOW.total_seconds() * 1000)
# The newest readings a sensor brings back for its trend: 3 h at a reading every 5 minutes; a sensor reporting every
# minute has its trend fitted over its last 36 minutes. Bounds the answer at 500 stations to 18,000 rows.
TREND_POINTS = 36
LATEST_WITHIN = timedelta(hours=72)  # an older reading is not shown as the current one
TRUSTED = "\"quality\" <> 'bad'"

Key = tuple[str, str]  # (node_id, sensor_id)


@dataclass
class Recent:
    """One sensor's newest reading and its readings over the trend window before it (epoch ms, value), oldest first."""

    last_ms: int
    last: float
    points: list[tuple[int, float]] = field(default_factory=list)


def _key(row: dict[str, Any]) -> Key:
    return str(row.get("node_id") or ""), str(row.get("sensor_id") or "")


def quote(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def recent(db: Queryable, measurement: str, now: datetime, only: Key | None = None) -> dict[Key, Recent]:
    """Every sensor of ``measurement`` (or ``only`` that one): its newest trusted reading (within LATEST_WITHIN)
    and its readings of the TREND_WINDOW before it, as they were taken. One query whatever the number of sensors:
    the newest TREND_POINTS readings of each, newest first.

    Raw readings, not time-bucket means: a mean placed at its bucket's middle is off by where in the bucket the
    readings fell, differently for the newest (partial) bucket, which bent the slope (0.52 m/h read for 0.60)."""
    end = to_ms(now)
    trusted = TRUSTED
    if only is not None:
        trusted += f' AND "node_id" = {quote(only[0])} AND "sensor_id" = {quote(only[1])}'
    q = (
        f'SELECT "value" FROM "{measurement}" WHERE {trusted} '
        f"AND time > {to_ms(now - LATEST_WITHIN)}ms AND time <= {end}ms "
        f'GROUP BY "node_id", "sensor_id" ORDER BY time DESC LIMIT {TREND_POINTS}'
    )
    out: dict[Key, Recent] = {}
    for r in db.query(q):  # newest first within each sensor
        if r.get("value") is None:
            continue
        key, t, v = _key(r), int(r["time"]), float(r["value"])
        item = out.get(key)
        if item is None:
            item = out[key] = Recent(t, v)
        if t >= item.last_ms - TREND_WINDOW_MS:
            item.points.append((t, v))
    for item in out.values():
        item.points.reverse()  # oldest first, as the slope expects
    return out


def history(
    db: Queryable, measurement: str, node_id: str, sensor_id: str | None, now: datetime, span: timedelta, step: str
) -> list[tuple[int, float]]:
    """Means of one sensor (or one node's sensors of ``measurement``) per ``step`` over ``span`` before ``now``."""
    where = [TRUSTED, f'"node_id" = {quote(node_id)}', f"time > {to_ms(now - span)}ms", f"time <= {to_ms(now)}ms"]
    if sensor_id is not None:
        where.append(f'"sensor_id" = {quote(sensor_id)}')
    q = (
        f'SELECT mean("value") AS "value" FROM "{measurement}" WHERE {" AND ".join(where)} '
        f"GROUP BY time({step}) fill(none)"
    )
    return [(int(r["time"]), float(r["value"])) for r in db.query(q) if r.get("value") is not None]


def latest_by_node(
    db: Queryable, measurements: Iterable[str], now: datetime
) -> dict[tuple[str, str], tuple[int, float]]:
    """(measurement, node_id) -> (epoch ms, value) of the newest trusted reading, any sensor of the node."""
    out: dict[tuple[str, str], tuple[int, float]] = {}
    for m in measurements:
        q = (
            f'SELECT last("value") AS "value" FROM "{m}" WHERE {TRUSTED} '
            f'AND time > {to_ms(now - LATEST_WITHIN)}ms AND time <= {to_ms(now)}ms GROUP BY "node_id"'
        )
        for r in db.query(q):
            if r.get("value") is not None:
                out[(m, str(r.get("node_id") or ""))] = (int(r["time"]), float(r["value"]))
    return out


def rain_sums(db: Queryable, now: datetime, hours: Iterable[int]) -> dict[Key, dict[int, float]]:
    """Rain fallen per gauge sensor over each of the last ``hours`` (mm): readings are increments since the
    gauge's previous reading (wire/quantities.py), so a window's rain is their plain sum, over (now - h, now]."""
    out: dict[Key, dict[int, float]] = defaultdict(dict)
    for h in hours:
        q = (
            f'SELECT sum("value") AS "mm" FROM "rainfall" WHERE {TRUSTED} '
            f'AND time > {to_ms(now - timedelta(hours=h))}ms AND time <= {to_ms(now)}ms GROUP BY "node_id", "sensor_id"'
        )
        for r in db.query(q):
            if r.get("mm") is not None:
                out[_key(r)][h] = float(r["mm"])
    return dict(out)


def fire_danger(db: Queryable, now: datetime, within: timedelta) -> dict[str, tuple[int, float, int]]:
    """area_id -> (epoch ms, Nesterov P, level 1-5): the fire rule's newest point (hub/alerts/evaluate/fire.py)."""
    q = (
        # One selector with a field beside it: both from the same (newest) point, and its own time.
        'SELECT last("p") AS "p", "level" FROM "fire_danger" '
        f'WHERE time > {to_ms(now - within)}ms AND time <= {to_ms(now)}ms GROUP BY "area_id"'
    )
    out = {}
    for r in db.query(q):
        if r.get("p") is not None and r.get("level") is not None:
            out[str(r.get("area_id") or "")] = (int(r["time"]), float(r["p"]), int(r["level"]))
    return out
