"""The edge-fleet completeness panels read what the completeness job stores: their InfluxQL, as Grafana sends it,
against a real InfluxDB the job filled from readings with gaps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hub.grafana.bundle import dashboard_json
from hub.grafana.dashboards import edge_fleet
from hub.quality.completeness_job import completeness_pass
from hub.store.influx_query import InfluxReader
from testkit.localsvc import InfluxDB
from tests.hub.grafana.influx_series import interpolate, run
from tests.hub.quality.test_completeness_job import DB, NODES, NOW, TODAY_START, YESTERDAY_START, gappy_data, write

SPAN = (YESTERDAY_START - timedelta(days=3), NOW + timedelta(hours=1))
VARIABLES: dict[str, str | list[str]] = {"node": ["river-a", "river-b"], "province": "", "hub_url": ""}


def target(title_part: str) -> dict[str, Any]:
    (panel,) = [p for p in dashboard_json(edge_fleet)["panels"] if title_part in p["title"]]
    (t,) = panel["targets"]
    return t


def filled(influx: InfluxDB) -> None:
    write(influx.url, gappy_data())
    reader = InfluxReader(influx.url, DB)
    try:
        # Two passes on each day, as the hub's timer makes them: the later one's figures are the ones kept.
        lines = []
        for at in (TODAY_START - timedelta(hours=5), TODAY_START - timedelta(minutes=1), NOW - timedelta(hours=6), NOW):
            lines += completeness_pass(reader, NODES, at).lines
    finally:
        reader.close()
    write(influx.url, lines)


def rows(series: list[dict[str, Any]], *tags: str) -> dict[tuple[str, ...], list[list[Any]]]:
    return {tuple(s["tags"][t] for t in tags): s["values"] for s in series}


def test_today_table_shows_each_sensors_latest_day(influx: InfluxDB) -> None:
    filled(influx)
    t = target("hôm nay")
    assert t["resultFormat"] == "table"
    series = run(influx.url, DB, interpolate(t["query"], VARIABLES, SPAN))
    today_ms = int(TODAY_START.timestamp() * 1000)
    # columns: time, ratio, received, expected; river-c is not selected in $node.
    assert rows(series, "node_id", "sensor_id", "quantity") == {
        ("river-a", "rain", "rainfall"): [[today_ms, 1.0, 144, 144.0]],
        ("river-a", "stage", "water_level"): [[today_ms, 0.6667, 32, 48.0]],
        ("river-b", "stage", "water_level"): [[today_ms, 0.25, 12, 48.0]],
    }
    assert series[0]["columns"] == ["time", "ratio", "received", "expected"]


def test_daily_series_has_one_ratio_per_local_day(influx: InfluxDB) -> None:
    filled(influx)
    t = target("theo ngày")
    series = run(influx.url, DB, interpolate(t["query"], VARIABLES, SPAN))
    before_ms, yesterday_ms, today_ms = (
        int(d.timestamp() * 1000) for d in (YESTERDAY_START - timedelta(days=1), YESTERDAY_START, TODAY_START)
    )
    days = {k: [(ts, v) for ts, v in vals if v is not None] for k, vals in rows(series, "node_id", "sensor_id").items()}
    # 3 October was only ever "yesterday" to the first pass (river-a's stage had one reading, at 23:00); the days
    # before it had no pass at all: no bucket (fill(none)), not 0.
    assert days == {
        ("river-a", "rain"): [(before_ms, 0.0), (yesterday_ms, 0.5), (today_ms, 1.0)],
        ("river-a", "stage"): [(before_ms, 0.0104), (yesterday_ms, 1.0), (today_ms, 0.6667)],
        ("river-b", "stage"): [(before_ms, 0.0), (yesterday_ms, 0.0), (today_ms, 0.25)],
    }
