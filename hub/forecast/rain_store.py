"""Rain forecasts in InfluxDB: measurement ``rain_forecast``, one series per area and lead hour.

Like the stage forecasts' ``history`` series (store.py), the lead hour is a tag, so no issue overwrites another's
points and the cardinality is bounded by the lead hours, not by the issues: a refit reads every issue of its
history back, grouped by the ``issued`` field (epoch ms), and sees each forecast as it was when it was issued.
Re-importing an issue rewrites the same points.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

from hub.forecast.base import HOUR, MAX_LEAD_H
from hub.forecast.rain_forecast import MAX_AGE, RainForecast, RainForecasts
from hub.forecast.store import Queryable, from_ms, lead_hours, to_ms
from hub.store.line_protocol import line

MEASUREMENT = "rain_forecast"


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def rain_forecast_lines(issue: RainForecast, agency: str | None = None) -> list[str]:
    """Line protocol for one issue; hours whose value is not a finite number are left out."""
    issued = to_ms(issue.issued)
    lines = []
    for k, mm in enumerate(issue.mm):
        if not math.isfinite(mm):
            continue
        valid = issue.first + k * HOUR
        fields: dict[str, float | int | bool | str] = {"mm": float(mm), "issued": issued}
        if agency:
            fields["agency"] = agency
        tags = {"area": issue.area, "lead_h": str(lead_hours(issue.issued, valid))}
        lines.append(line(MEASUREMENT, tags, fields, to_ms(valid)))
    return lines


def load_rain_forecasts(
    db: Queryable, area: str, start: datetime, end: datetime, max_age: timedelta = MAX_AGE
) -> RainForecasts:
    """Every issue for ``area`` that a forecast issued between ``start`` and ``end`` could read: issued from
    ``start - max_age`` to ``end``. An hour an issue leaves out stays NaN in it (``RainForecasts.ahead`` then
    answers NaN for windows that include it: an hour without a forecast is not a dry one)."""
    oldest, newest = to_ms(start - max_age), to_ms(end)
    q = (
        f'SELECT "mm", "issued" FROM "{MEASUREMENT}" WHERE "area" = {_quote(area)} '
        f"AND time > {oldest}ms AND time <= {to_ms(end + MAX_LEAD_H * HOUR)}ms"
    )
    by_issue: dict[int, dict[datetime, float]] = defaultdict(dict)
    for r in db.query(q):
        if r.get("issued") is None or r.get("mm") is None:
            continue
        issued = int(r["issued"])
        if oldest <= issued <= newest:
            by_issue[issued][from_ms(r["time"])] = float(r["mm"])
    issues = []
    for issued_ms, values in by_issue.items():
        first, last = min(values), max(values)
        n = round((last - first) / HOUR) + 1
        mm = tuple(values.get(first + k * HOUR, math.nan) for k in range(n))
        issues.append(RainForecast(area, from_ms(issued_ms), first, mm))
    return RainForecasts(issues, max_age)
