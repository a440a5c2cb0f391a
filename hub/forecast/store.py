"""Forecasts in InfluxDB: measurement ``stage_forecast``, written twice per issue, and read back per station.

Two series per station and source, told apart by the ``series`` tag:

- ``series=latest``: one point per valid time, rewritten at every issue. A point's key is (tags, valid time), so a new
  issue overwrites the valid times it shares with the previous one: from the newest issue time on, the series *is*
  the newest issue, which is what a Grafana panel draws as "the forecast" without any query trickery. Before it sit
  the short-lead points of earlier issues (what was expected an hour or so ahead), kept as a visual check.
- ``series=history``: one series per lead hour (tag ``lead_h``), so no issue ever overwrites another's points: the
  6-hour-ahead forecasts of a station over a season are one series, ready to be compared with what was measured
  (skill). Its cardinality is bounded by the lead hours, not by the number of issues.

``method`` is a string field, not a tag: a station whose method changes at a refit keeps one ``latest`` series (a
tag would leave the old method's points standing beside the new ones), and skill per method filters on the field.
``issued`` is an integer field (epoch ms), so the newest issue is found by comparing numbers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from hub.forecast.base import HOUR, Forecast, ForecastPoint
from hub.store.line_protocol import line

MEASUREMENT = "stage_forecast"
Kind = Literal["river", "reservoir"]
KINDS: tuple[Kind, ...] = ("river", "reservoir")
SOURCES = ("model", "official")


class Queryable(Protocol):
    """What reading back needs: InfluxQL in, rows out (``hub.store.influx_query.InfluxReader``, the feeds' sink)."""

    def query(self, q: str) -> list[dict[str, Any]]: ...


def to_ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def from_ms(ms: int | float) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def lead_hours(issued: datetime, valid: datetime) -> int:
    """Whole lead hours of a point, rounded up: an official forecast issued at 07:30 for 13:00 is a 6-hour one.

    Rounding up keeps distinct hourly valid times on distinct leads (rounding to nearest would put 1.5 h and 2.5 h
    on the same lead and one history point over the other).
    """
    return max(0, math.ceil((valid - issued) / HOUR))


def forecast_lines(forecast: Forecast, kind: Kind, *, latest: bool = True) -> list[str]:
    """Line protocol for one issue: each point into its lead's ``history`` series and (unless ``latest`` is false:
    an issue older than one already stored) into the ``latest`` series."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    issued = to_ms(forecast.issued)
    base = {"station_id": forecast.station_id, "source": forecast.source, "kind": kind}
    lines = []
    for p in forecast.points:
        values = (p.level_m, p.lower_m, p.upper_m)
        if not all(math.isfinite(v) for v in values):
            continue  # a method that could not say anything for this hour: no point rather than a NaN
        fields: dict[str, float | int | bool | str] = {
            "level_m": float(p.level_m),
            "lower_m": float(p.lower_m),
            "upper_m": float(p.upper_m),
            "horizon_h": int(p.horizon_h),
            "issued": issued,
            "method": forecast.method,
        }
        ts = to_ms(p.valid)
        if latest:
            lines.append(line(MEASUREMENT, {**base, "series": "latest"}, fields, ts))
        lead = {**base, "series": "history", "lead_h": str(p.horizon_h)}
        lines.append(line(MEASUREMENT, lead, fields, ts))
    return lines


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def latest_forecasts(
    db: Queryable,
    source: str,
    now: datetime,
    max_age: timedelta,
    station_ids: Iterable[str] | None = None,
) -> dict[str, Forecast]:
    """The newest issue of ``source`` per station, issued within ``max_age`` before ``now`` (and not after it).

    Every point of the newest issue lies after its issue time, so the ``latest`` series from ``now - max_age`` on
    holds it whole; among those points, the ones carrying the highest ``issued`` are that issue's.
    """
    where = ["\"series\" = 'latest'", f'"source" = {_quote(source)}', f"time > {to_ms(now - max_age)}ms"]
    wanted = sorted(set(station_ids)) if station_ids is not None else None
    if wanted is not None:
        if not wanted:
            return {}
        where.append("(" + " OR ".join(f'"station_id" = {_quote(s)}' for s in wanted) + ")")
    q = (
        f'SELECT "level_m", "lower_m", "upper_m", "horizon_h", "issued", "method" FROM "{MEASUREMENT}" '
        f'WHERE {" AND ".join(where)} GROUP BY "station_id"'
    )
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in db.query(q):
        if r.get("issued") is not None and r.get("level_m") is not None:
            rows[r["station_id"]].append(r)
    oldest, newest = to_ms(now - max_age), to_ms(now)
    out = {}
    for station, points in rows.items():
        issued = max((int(r["issued"]) for r in points if int(r["issued"]) <= newest), default=None)
        if issued is None or issued < oldest:
            continue
        chosen = sorted((r for r in points if int(r["issued"]) == issued), key=lambda r: int(r["time"]))
        out[station] = Forecast(
            station_id=station,
            issued=from_ms(issued),
            source=source,
            method=str(chosen[0].get("method") or ""),
            points=tuple(_point(r) for r in chosen),
        )
    return out


def _point(r: Mapping[str, Any]) -> ForecastPoint:
    level = float(r["level_m"])
    return ForecastPoint(
        valid=from_ms(r["time"]),
        horizon_h=int(r["horizon_h"]) if r.get("horizon_h") is not None else 0,
        level_m=level,
        lower_m=float(r["lower_m"]) if r.get("lower_m") is not None else level,
        upper_m=float(r["upper_m"]) if r.get("upper_m") is not None else level,
    )


def prefer_official(model: Forecast | None, official: Forecast | None) -> Forecast | None:
    """The forecast to act on: an official one whenever there is one (the caller has already bounded its age:
    ``latest_forecasts(..., max_age=...)``), else the hub's own. The agencies' forecasts draw on rainfall forecasts
    and upstream information the hub does not have; the hub's own fills the hours and stations they leave out."""
    return official if official is not None and official.points else model
