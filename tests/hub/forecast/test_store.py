"""Forecasts in a real InfluxDB: the lines round-trip, the ``latest`` series holds the newest issue, the history keeps
every issue per lead hour, and an official forecast is preferred only while it is fresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.config import HubInflux
from hub.feeds.sink import InfluxSink
from hub.forecast.base import HOUR, Forecast, ForecastPoint
from hub.forecast.store import forecast_lines, latest_forecasts, lead_hours, prefer_official
from hub.store.influx_query import query
from testkit.localsvc import InfluxDB

DB = "iocgw"
NOW = datetime.now(UTC).replace(minute=20, second=0, microsecond=0) - timedelta(hours=1)
ISSUED = NOW.replace(minute=0)


def forecast(
    issued: datetime, base: float, *, source: str = "model", method: str = "regression", n: int = 6
) -> Forecast:
    points = tuple(
        ForecastPoint(issued + h * HOUR, h, base + 0.1 * h, base + 0.1 * h - 0.2, base + 0.1 * h + 0.3)
        for h in range(1, n + 1)
    )
    return Forecast("huong-kim-long", issued, source, method, points)


def sink(influx: InfluxDB) -> InfluxSink:
    return InfluxSink(HubInflux(url=influx.url, database=DB, timeout_s=2.0), retry_budget_s=1.0)


def test_lines_carry_both_series_and_every_field() -> None:
    f = forecast(ISSUED, 3.0, n=2)
    lines = forecast_lines(f, "river")
    assert len(lines) == 4
    assert sum(",series=latest" in ln for ln in lines) == 2
    assert sum(",series=history" in ln and ",lead_h=" in ln for ln in lines) == 2
    assert all('method="regression"' in ln and f"issued={int(ISSUED.timestamp() * 1000)}i" in ln for ln in lines)
    assert len(forecast_lines(f, "river", latest=False)) == 2
    with pytest.raises(ValueError, match="kind"):
        forecast_lines(f, "lake")  # type: ignore[arg-type]


def test_a_point_without_a_value_is_left_out() -> None:
    f = forecast(ISSUED, 3.0, n=2)
    nan = ForecastPoint(ISSUED + 3 * HOUR, 3, float("nan"), float("nan"), float("nan"))
    assert len(forecast_lines(Forecast(f.station_id, f.issued, f.source, f.method, (*f.points, nan)), "river")) == 4


def test_lead_hours_round_up_so_hourly_points_keep_distinct_leads() -> None:
    issued = datetime(2026, 10, 1, 0, 30, tzinfo=UTC)
    leads = [lead_hours(issued, datetime(2026, 10, 1, h, tzinfo=UTC)) for h in (1, 2, 3)]
    assert leads == [1, 2, 3]


@pytest.mark.services
def test_round_trip_and_the_newest_issue_wins(influx: InfluxDB) -> None:
    db = sink(influx)
    older, newer = forecast(ISSUED - 3 * HOUR, 2.0, method="persistence"), forecast(ISSUED, 3.0)
    db.write(forecast_lines(older, "river") + forecast_lines(newer, "river"))

    got = latest_forecasts(db, "model", NOW, timedelta(hours=6))
    assert got == {"huong-kim-long": newer}  # every field back, method included, older issue's points left out

    # The history keeps both issues: the 1-hour-ahead forecasts are one series over issue times.
    rows = query(
        influx.url,
        DB,
        'SELECT "level_m", "issued" FROM "stage_forecast" WHERE "series" = \'history\' AND "lead_h" = \'1\'',
    )
    assert sorted(r["level_m"] for r in rows) == [2.1, 3.1]
    # The latest series, as a panel draws it: from the newest issue on, only the newest issue's values.
    latest = query(
        influx.url,
        DB,
        f'SELECT "level_m", "issued" FROM "stage_forecast" WHERE "series" = \'latest\' '
        f"AND time > {int(ISSUED.timestamp() * 1000)}ms",
    )
    assert [r["level_m"] for r in latest] == [p.level_m for p in newer.points]
    assert {r["issued"] for r in latest} == {int(ISSUED.timestamp() * 1000)}


@pytest.mark.services
def test_official_preferred_only_while_fresh(influx: InfluxDB) -> None:
    db = sink(influx)
    model = forecast(ISSUED, 3.0)
    official = forecast(ISSUED - 5 * HOUR, 3.5, source="official", method="Đài KTTV Trung Trung Bộ", n=12)
    db.write(forecast_lines(model, "river") + forecast_lines(official, "river"))

    fresh = latest_forecasts(db, "official", NOW, timedelta(hours=6), ["huong-kim-long"])
    assert fresh["huong-kim-long"].method == "Đài KTTV Trung Trung Bộ"
    assert prefer_official(model, fresh.get("huong-kim-long")) == fresh["huong-kim-long"]

    stale = latest_forecasts(db, "official", NOW, timedelta(hours=4), ["huong-kim-long"])
    assert stale == {}
    assert prefer_official(model, stale.get("huong-kim-long")) is model
    assert latest_forecasts(db, "official", NOW, timedelta(hours=6), ["another-station"]) == {}
    # An issue "from the future" (a clock or offset slip) is not taken as the newest.
    assert latest_forecasts(db, "official", ISSUED - 6 * HOUR, timedelta(hours=6)) == {}
