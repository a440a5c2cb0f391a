"""Official stage forecasts (the hydro-meteorological agencies' bulletins) → ``stage_forecast`` points, source=official.

One row is one forecast value: a station, the time the forecast was issued, the time it is for, the level. The rows of
one station and issue time make one forecast; the hub's forecast job prefers the newest one over its own while it is
fresh enough (hub/forecast/service.py), so the warnings and the dashboards follow the agency where it has spoken.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from pydantic import Field, field_validator, model_validator

from hub.feeds.importers.base import FEED_KINDS, FeedKind, ImportContext, Rejection, SourceConfig
from hub.feeds.periods import VN_TZ
from hub.feeds.rows import _Row
from hub.forecast.base import HOUR, MAX_LEAD_H, Forecast, ForecastPoint
from hub.forecast.store import MEASUREMENT, Kind, forecast_lines, lead_hours, to_ms
from wire.messages import Identifier

# An issue time this far past the importing machine's clock is a typing slip or a wrong offset, not a forecast.
FUTURE_SLACK = timedelta(minutes=10)


def local_if_naive(value: datetime) -> datetime:
    """A bulletin's time in UTC; one without an offset is Vietnam time (bulletins rarely say so)."""
    return (value.replace(tzinfo=VN_TZ) if value.tzinfo is None else value).astimezone(UTC)


def check_valid_time(issued: datetime, valid: datetime) -> None:
    """A forecast value's time: on a whole hour, after its issue, at most MAX_LEAD_H later; ValueError saying why.
    Forecasts of levels and of rain alike."""
    if valid.minute or valid.second or valid.microsecond:
        raise ValueError(f"valid ({valid.isoformat()}) must be on a whole hour: forecasts are hourly values")
    if not valid > issued:
        raise ValueError(f"valid ({valid.isoformat()}) must be after issued ({issued.isoformat()})")
    if valid - issued > MAX_LEAD_H * HOUR:
        raise ValueError(f"valid is more than {MAX_LEAD_H} h after issued: check the dates")


class ForecastSource(SourceConfig):
    type: Literal["forecast"]


class ForecastRow(_Row):
    """One official forecast value (format version 1)."""

    station_id: Identifier = Field(description="Flood station id (or reservoir id) as in the hub's tables")
    issued: datetime = Field(description="When the agency issued the forecast; no offset: Vietnam time")
    valid: datetime = Field(description="The time the level is forecast for, on a whole hour; no offset: Vietnam time")
    level_m: float = Field(description="Forecast level, metres on the station's datum")
    lower_m: float | None = Field(None, description="Lower bound of the agency's range, if it gives one")
    upper_m: float | None = Field(None, description="Upper bound of the agency's range, if it gives one")
    agency: str | None = Field(None, max_length=120, description="Issuing agency, e.g. 'Đài KTTV Trung Trung Bộ'")
    kind: Literal["river", "reservoir"] = Field("river", description="river station or reservoir")

    @field_validator("station_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("issued", "valid")
    @classmethod
    def _local_if_naive(cls, value: datetime) -> datetime:
        return local_if_naive(value)

    @field_validator("level_m", "lower_m", "upper_m")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ForecastRow:
        check_valid_time(self.issued, self.valid)
        lower = self.lower_m if self.lower_m is not None else self.level_m
        upper = self.upper_m if self.upper_m is not None else self.level_m
        if not lower <= self.level_m <= upper:
            raise ValueError(f"need lower_m <= level_m <= upper_m, got {lower:g} / {self.level_m:g} / {upper:g}")
        return self


@dataclass
class Issue:
    """The rows of one station and issue time: one forecast."""

    station_id: str
    issued: datetime
    kind: Kind
    agency: str | None
    rows: list[tuple[int, ForecastRow]] = field(default_factory=list)

    def forecast(self) -> Forecast:
        points = tuple(
            ForecastPoint(
                valid=r.valid,
                horizon_h=lead_hours(self.issued, r.valid),
                level_m=r.level_m,
                lower_m=r.lower_m if r.lower_m is not None else r.level_m,
                upper_m=r.upper_m if r.upper_m is not None else r.level_m,
            )
            for _, r in sorted(self.rows, key=lambda nr: nr[1].valid)
        )
        return Forecast(self.station_id, self.issued, "official", self.agency or "official", points)


def _add(issues: dict[tuple[str, datetime], Issue], number: int, row: ForecastRow) -> Rejection | None:
    key = (row.station_id, row.issued)
    issue = issues.get(key)
    if issue is None:
        issues[key] = Issue(row.station_id, row.issued, row.kind, row.agency, [(number, row)])
        return None
    first = issue.rows[0][0]
    same = next((n for n, r in issue.rows if r.valid == row.valid), None)
    if same is not None:
        return Rejection(number, f"duplicate of row {same} (same station_id, issued and valid)")
    if row.agency != issue.agency:
        return Rejection(number, f"agency {row.agency!r} differs from row {first}'s {issue.agency!r} in the same issue")
    if row.kind != issue.kind:
        return Rejection(number, f"kind {row.kind!r} differs from row {first}'s {issue.kind!r} for the same station")
    issue.rows.append((number, row))
    return None


class _Issued(Protocol):
    issued: datetime


R = TypeVar("R", bound=_Issued)
I = TypeVar("I")  # noqa: E741 - an issue


def group_issues(
    rows: list[tuple[int, R]], add: Callable[[dict[tuple[str, datetime], I], int, R], Rejection | None]
) -> tuple[list[I], list[Rejection]]:
    """Rows grouped into issues by ``add`` (which refuses a row that contradicts its issue); a row issued in the
    future is refused before: a typing slip or a wrong offset, not a forecast. Forecasts of levels and of rain alike."""
    issues: dict[tuple[str, datetime], I] = {}
    rejected = []
    latest_ok = datetime.now(UTC) + FUTURE_SLACK
    for number, row in rows:
        if row.issued > latest_ok:
            rejected.append(Rejection(number, f"issued ({row.issued.isoformat()}) is in the future"))
            continue
        refused = add(issues, number, row)
        if refused is not None:
            rejected.append(refused)
    return list(issues.values()), rejected


@FEED_KINDS.register("forecast", ForecastSource)
class Forecasts(FeedKind):
    row_model = ForecastRow

    def check(self, rows: list[tuple[int, ForecastRow]], ctx: ImportContext) -> tuple[list[Issue], list[Rejection]]:
        return group_issues(rows, _add)

    def commit(self, items: list[Issue], ctx: ImportContext) -> int:
        newest = self._stored_newest(items, ctx)
        lines = []
        # Oldest issue first: within one request the last point of a series and time wins, so the newest issue
        # ends up in the ``latest`` series; an issue older than one already stored goes to the history only.
        for issue in sorted(items, key=lambda i: i.issued):
            latest = to_ms(issue.issued) >= newest.get(issue.station_id, 0)
            lines += forecast_lines(issue.forecast(), issue.kind, latest=latest)
        if ctx.sink is not None and not ctx.dry_run:
            ctx.sink.write(lines)
        return len(lines)

    def origins(self, items: list[Issue]) -> list[tuple[list[str], str]]:
        return []  # keyed by station, not by administrative unit: nothing to remap or sum

    @staticmethod
    def _stored_newest(items: list[Issue], ctx: ImportContext) -> dict[str, int]:
        """The newest official issue (epoch ms) already stored per station, so that re-importing an old bulletin
        never puts it back over a newer one in the ``latest`` series."""
        stations = sorted({i.station_id for i in items})
        if ctx.sink is None or not stations:
            return {}
        which = " OR ".join('"station_id" = \'' + s.replace("'", "\\'") + "'" for s in stations)
        q = (
            f'SELECT max("issued") AS "issued" FROM "{MEASUREMENT}" WHERE "series" = \'latest\' '
            f'AND "source" = \'official\' AND ({which}) GROUP BY "station_id"'
        )
        out: dict[str, int] = defaultdict(int)
        for r in ctx.sink.query(q):
            if r.get("issued") is not None:
                out[r["station_id"]] = int(r["issued"])
        return out
