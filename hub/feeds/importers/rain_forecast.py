"""Rain forecasts (QPF) for a basin or area → ``rain_forecast`` points.

One row is one hour's forecast rain: an area, the time the forecast was issued, the hour it is for, the millimetres.
The rows of one area and issue time make one issue. The hub's stage forecasts read them as a predictor where a
station names the area (``rain_forecast`` in the forecast config): a flashy river's rise is announced by the rain
forecast hours before the rain gauges see anything (hub/forecast/rain_forecast.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from hub.feeds.importers.base import FEED_KINDS, FeedKind, ImportContext, Rejection, SourceConfig
from hub.feeds.importers.forecast import check_valid_time, group_issues, local_if_naive
from hub.feeds.rows import _Row
from hub.forecast.base import HOUR
from hub.forecast.rain_forecast import RainForecast
from hub.forecast.rain_store import rain_forecast_lines
from wire.messages import Identifier

# More than the heaviest hour ever measured anywhere (about 305 mm): a unit or a decimal point typed wrong.
MAX_MM_PER_HOUR = 350.0


class RainForecastSource(SourceConfig):
    type: Literal["rain_forecast"]


class RainForecastRow(_Row):
    """One hour of forecast rain (format version 1)."""

    area: Identifier = Field(description="Area (basin) id, as the forecast config's rain_forecast names it")
    issued: datetime = Field(description="When the forecast was issued; no offset: Vietnam time")
    valid: datetime = Field(
        description="End of the hour the rain is forecast for, on a whole hour; no offset: Vietnam time"
    )
    mm: float = Field(description="Rain forecast to fall in that hour, millimetres (basin or area mean)")
    agency: str | None = Field(None, max_length=120, description="Issuing agency or model, e.g. 'NCHMF'")

    @field_validator("area", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("issued", "valid")
    @classmethod
    def _local_if_naive(cls, value: datetime) -> datetime:
        return local_if_naive(value)

    @field_validator("mm")
    @classmethod
    def _depth(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        if not 0 <= value <= MAX_MM_PER_HOUR:
            raise ValueError(f"must be between 0 and {MAX_MM_PER_HOUR:g} mm in an hour, got {value:g}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RainForecastRow:
        check_valid_time(self.issued, self.valid)
        return self


@dataclass
class Issue:
    """The rows of one area and issue time."""

    area: str
    issued: datetime
    agency: str | None
    rows: list[tuple[int, RainForecastRow]] = field(default_factory=list)

    def forecast(self) -> RainForecast:
        by_valid = {r.valid: r.mm for _, r in self.rows}
        first, last = min(by_valid), max(by_valid)
        n = round((last - first) / HOUR) + 1
        # An hour the issue leaves out is unknown, not dry: it is not written, and reads back as missing.
        mm = tuple(by_valid.get(first + k * HOUR, math.nan) for k in range(n))
        return RainForecast(self.area, self.issued, first, mm)


def _add(issues: dict[tuple[str, datetime], Issue], number: int, row: RainForecastRow) -> Rejection | None:
    key = (row.area, row.issued)
    issue = issues.get(key)
    if issue is None:
        issues[key] = Issue(row.area, row.issued, row.agency, [(number, row)])
        return None
    same = next((n for n, r in issue.rows if r.valid == row.valid), None)
    if same is not None:
        return Rejection(number, f"duplicate of row {same} (same area, issued and valid)")
    if row.agency != issue.agency:
        first = issue.rows[0][0]
        return Rejection(number, f"agency {row.agency!r} differs from row {first}'s {issue.agency!r} in the same issue")
    issue.rows.append((number, row))
    return None


@FEED_KINDS.register("rain_forecast", RainForecastSource)
class RainForecasts(FeedKind):
    row_model = RainForecastRow

    def check(self, rows: list[tuple[int, RainForecastRow]], ctx: ImportContext) -> tuple[list[Issue], list[Rejection]]:
        return group_issues(rows, _add)

    def commit(self, items: list[Issue], ctx: ImportContext) -> int:
        lines = [ln for issue in items for ln in rain_forecast_lines(issue.forecast(), issue.agency)]
        if ctx.sink is not None and not ctx.dry_run:
            ctx.sink.write(lines)
        return len(lines)

    def origins(self, items: list[Issue]) -> list[tuple[list[str], str]]:
        return []  # keyed by area id, not by administrative unit: nothing to remap or sum
