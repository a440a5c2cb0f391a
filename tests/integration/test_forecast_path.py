"""Forecasts in a running hub: at start the forecast job fits a station on its stored history, issues a forecast
into InfluxDB, prefers a fresh official bulletin imported through the `forecast` feed, and the forecast warning is
raised from it, through a real hub process and a real InfluxDB."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hub.config import HubInflux
from hub.feeds.formats import read_file
from hub.feeds.pipeline import run_import
from hub.store.influx import InfluxWriter, Outcome
from hub.store.influx_query import query
from tests.hub.feeds.helpers import context, write_csv
from tests.support.wait import wait_until

STATIONS = """
stations:
  - {station_id: st-a, node_id: n-a, sensor_id: stage, river: "Thử", name: "Trạm A", province: "Huế",
     bd1_m: 5.0, bd2_m: 6.0, bd3_m: 7.0, source: test}
"""
FORECAST = """
stations:
  - {station_id: st-a, history_days: 4, min_history_h: 48}
"""


def test_the_hub_issues_forecasts_prefers_the_official_one_and_warns(tmp_path, make_hub, influx):
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    # Three days of a river breathing around 4 m, every 15 minutes, stored before the hub starts.
    writer = InfluxWriter(HubInflux(url=influx.url, database="iocgw"))
    writer.ensure_database()
    lines = []
    for k in range(3 * 96):
        ts = hour - timedelta(minutes=15 * k)
        value = 4.0 + 0.3 * math.sin(k / 20)
        lines.append(
            f'water_level,node_id=n-a,sensor_id=stage value={value:.3f},quality="good" {int(ts.timestamp() * 1000)}'
        )
    assert writer.write_once("\n".join(lines).encode()).outcome is Outcome.WRITTEN
    # The agency's bulletin, issued an hour ago: BĐ1 in 5 hours, BĐ2 in 10. It gives no range (lower_m, upper_m),
    # as many bulletins do: its own levels are taken at their word (confidence 1), above the hub's warn_confidence.
    issued = hour - timedelta(hours=1)
    rows = [
        {"station_id": "st-a", "issued": issued.isoformat(), "valid": (issued + timedelta(hours=h)).isoformat(),
         "level_m": 4.0 + 0.2 * h, "agency": "Đài KTTV", "kind": "river"}
        for h in range(1, 13)
    ]  # fmt: skip
    report = run_import(
        read_file(write_csv(tmp_path / "bulletin.csv", "forecast", rows)), context(influx.url, tmp_path)
    )
    assert report.ok, report.summary()

    (tmp_path / "stations.yaml").write_text(STATIONS)
    (tmp_path / "forecast.yaml").write_text(FORECAST)
    alerts = {
        "flood_stations": str(tmp_path / "stations.yaml"),
        "forecast": str(tmp_path / "forecast.yaml"),
        "freshness": {"enabled": False},
    }
    make_hub(alerts=alerts)

    def model_latest() -> list[dict]:
        sql = (
            "SELECT level_m, horizon_h FROM stage_forecast "
            "WHERE station_id = 'st-a' AND \"source\" = 'model' AND \"series\" = 'latest'"
        )
        return query(influx.url, "iocgw", sql)

    wait_until(lambda: len(model_latest()) == 24, what="the hub's own 24-hour forecast stored")
    assert [r["horizon_h"] for r in model_latest()] == list(range(1, 25))
    assert all(3.0 < r["level_m"] < 5.0 for r in model_latest())  # no crossing in the hub's own

    def warnings() -> list[dict]:
        sql = "SELECT transition, level, message FROM alarm WHERE \"rule\" = 'flood_forecast' AND subject = 'st-a'"
        return query(influx.url, "iocgw", sql)

    # The official bulletin is fresh, so it is the one the warning follows: BĐ2 ahead.
    wait_until(lambda: any(w["transition"] == "created" for w in warnings()), what="a flood_forecast warning")
    created = next(w for w in warnings() if w["transition"] == "created")
    assert created["level"] == 2 and "vượt BĐ2" in created["message"]
    assert created["message"].endswith("độ tin cậy 100 %")
    assert query(influx.url, "iocgw", "SELECT * FROM alarm WHERE \"rule\" = 'flood_level'") == []
