"""Filling a real InfluxDB for the dashboard tests: the simulator's scenarios through the real hub, then the few
points the hub does not write itself (yet).

Sensor, alert-engine and node-status measurements come from replays of the typhoon, reservoir and dry-season
scenarios through edge agents, Mosquitto and the hub process. Written here by line protocol, and only here:

- the administrative feeds' measurements (admin_indicator, public_service, citizen_feedback, unit_hazard), in the
  shape docs/grafana.md and the feeds contract fix; the feeds importer is another module's job;
- camera health figures in node_status (x_camera_fps, x_inference_ms), as a camera node's status ``extra`` gives;
- the completeness job's points (hub/quality/completeness_job.py, which the hub runs on a timer), as passes during
  the replayed days would have written them;
- a few readings quality control flagged, as the hub stores them: the replayed scenarios are clean, and the hub
  flags none of their readings (which the edge-fleet panel of flagged readings would otherwise show as nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from hub.alerts.rules.flood_levels import FloodStation
from hub.forecast.base import Forecast, ForecastPoint
from hub.forecast.store import forecast_lines
from hub.node_seed import node_info
from hub.quality.completeness_job import completeness_pass
from hub.store.influx_query import InfluxReader, query
from hub.store.line_protocol import line
from simulators.sensors.replay import build_replay, load_replay_scenario
from simulators.sensors.replay_plan import Replay
from simulators.sensors.scenario import alarm_levels
from tests.support.scenario_time import local_midnight_days_ago

SAMPLES = Path(__file__).resolve().parents[3] / "hub" / "alerts" / "sample_rules"
# Device times in the recent past: the hub refuses readings from the future (wire/timepolicy.py).
TYPHOON_START = local_midnight_days_ago(40)
DRY_START = local_midnight_days_ago(20)
FEEDS_START = datetime(2025, 7, 1, tzinfo=UTC)
# Feeds (written straight to InfluxDB) to the replays' end: a year and a half before now to a day after.
WHOLE_RANGE = (min(FEEDS_START, TYPHOON_START) - timedelta(days=200), datetime.now(UTC) + timedelta(days=1))


def replays(broker_port: int, data_dir: Path) -> list[Replay]:
    return [
        build_replay(load_replay_scenario(name), start, broker_port=broker_port, data_dir=data_dir / name)
        for name, start in (
            ("typhoon_flood", TYPHOON_START),
            ("reservoir_filling", TYPHOON_START),
            ("dry_season_fire", DRY_START),
        )
    ]


def flood_stations(replay: Replay) -> list[FloodStation]:
    groups = {g.node_id(1): g for g in replay.scenario.groups}
    return [
        FloodStation(
            station_id=node,
            node_id=node,
            sensor_id="stage",
            river=(groups[node].site.name or node).split("sông ")[-1],
            name=groups[node].site.name or node,
            province=groups[node].site.admin_code or "",
            bd1_m=lv.bd1_m,
            bd2_m=lv.bd2_m,
            bd3_m=lv.bd3_m,
            source=lv.source,
            zone=1,
        )
        for node, lv in alarm_levels(replay.scenario).items()
    ]


def alerts_config(typhoon: Replay, workdir: Path) -> dict[str, Any]:
    """One hub watching all three scenarios: flood stations and rain gauges, the sample reservoir, the fire area."""
    stations = flood_stations(typhoon)
    table = workdir / "flood.yaml"
    table.write_text(
        yaml.safe_dump({"stations": [s.model_dump(exclude_none=True) for s in stations]}, allow_unicode=True)
    )
    return {
        "flood_stations": str(table),
        "rain_bands": str(SAMPLES / "heavy_rain.yaml"),
        "rain_gauges": [
            {"gauge_id": f"{s.station_id}-rain", "node_id": s.station_id, "sensor_id": "rain"} for s in stations
        ],
        "reservoirs": str(SAMPLES / "reservoirs.yaml"),
        "risk_tables": str(SAMPLES / "risk_levels.yaml"),
        "nesterov_files": [str(SAMPLES / "nesterov.yaml")],
        "fire_areas": [
            {
                "area_id": "huong-son",
                "area": "42",
                "nesterov": "Hà Tĩnh",
                "temperature": {"node_id": "env-huongson-001", "sensor_id": "temperature"},
                "humidity": {"node_id": "env-huongson-001", "sensor_id": "humidity"},
                "rain": {"node_id": "env-huongson-001", "sensor_id": "rain"},
            }
        ],
        "camera_table": str(SAMPLES / "camera.yaml"),
        "freshness": {"enabled": False},
    }


# -- forecasts (the forecast job and the official feed write these; hub/forecast/store.py is their one writer) -------
FORECAST_ISSUED = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
OLDER_ISSUE_LEVEL = 99.0  # the previous issue's level: never drawn after the newest issue's time


def forecast_points(station_ids: list[str], reservoir_ids: list[str]) -> list[str]:
    """For each station and reservoir: an older model issue (5 h before) and the newest, 24 h ahead each; an
    official 6-hourly bulletin for the first station. Written in issue order, as the job and the feed write them."""
    lines: list[str] = []
    for issued, base in ((FORECAST_ISSUED - timedelta(hours=5), OLDER_ISSUE_LEVEL), (FORECAST_ISSUED, None)):
        for sid, kind in [(s, "river") for s in station_ids] + [(r, "reservoir") for r in reservoir_ids]:
            level0 = base if base is not None else (32.0 if kind == "reservoir" else 5.0)
            points = tuple(
                ForecastPoint(issued + timedelta(hours=h), h, level0 + 0.05 * h, level0 + 0.04 * h, level0 + 0.06 * h)
                for h in range(1, 25)
            )
            lines += forecast_lines(Forecast(sid, issued, "model", "regression", points), kind)  # type: ignore[arg-type]
    official = tuple(
        ForecastPoint(FORECAST_ISSUED + timedelta(hours=h), h, 6.0 + 0.1 * h, 5.8 + 0.1 * h, 6.2 + 0.1 * h)
        for h in (6, 12, 18, 24)
    )
    lines += forecast_lines(Forecast(station_ids[0], FORECAST_ISSUED, "official", "Đài KTTV", official), "river")
    return lines


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _latest(url: str, db: str, measurement: str, key: str) -> list[dict[str, Any]]:
    return query(url, db, f'SELECT * FROM "{measurement}" GROUP BY "{key}" ORDER BY time DESC LIMIT 1')


def _fields(row: dict[str, Any], tag_keys: set[str]) -> dict[str, float | int | bool | str]:
    skip = {"time", "measurement", *tag_keys}
    return {k: v for k, v in row.items() if k not in skip and v is not None}


def _ints(fields: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    # The query API returns every number as JSON; keep integer fields integers, or InfluxDB rejects the type.
    return {k: (int(v) if k in names else v) for k, v in fields.items()}


def camera_health_points(node_id: str, admin_code: str, at: datetime) -> list[str]:
    tags = {"admin_code": admin_code, "node_id": node_id}
    return [
        line(
            "node_status",
            tags,
            {"state": "online", "seq": 900_000 + i, "x_camera_fps": 4.8 + 0.1 * i, "x_inference_ms": 41.0 + i},
            _ms(at + timedelta(minutes=5 * i)),
        )
        for i in range(6)
    ]


def flagged_points(node_id: str, admin_code: str, at: datetime) -> list[str]:
    """A stage sensor's spike and jump, stored with the flags and checks the hub gives them (docs/quality.md)."""
    tags = {"admin_code": admin_code, "node_id": node_id, "sensor_id": "stage"}
    flags = (("bad", "spike", 9.4), ("suspect", "rate_of_change", 7.9), ("bad", "hard_limit", 1500.0))
    return [
        line(
            "water_level",
            tags,
            {"value": value, "quality": flag, "qc": check, "seq": 800_000 + i},
            _ms(at + timedelta(minutes=7 + 30 * i)),
        )
        for i, (flag, check, value) in enumerate(flags)
    ]


# -- the administrative feeds (shape of docs/grafana.md "Feeds measurements") ------------------------------------
UNITS = (
    # admin_code, province_code, level, name, lat, lon, population, schools, hazard
    ("01", "01", "province", "Hà Nội", 21.03, 105.85, 8_587_100.0, 2_900.0, ("rain", 2)),
    ("00004", "01", "commune", "Phường Ba Đình", 21.034, 105.814, 65_000.0, 21.0, ("flood", 1)),
    ("46", "46", "province", "Huế", 16.46, 107.59, 1_160_000.0, 610.0, ("flood", 3)),
    ("42", "42", "province", "Hà Tĩnh", 18.34, 105.90, 1_320_000.0, 720.0, ("none", 0)),
    ("18073", "42", "commune", "Xã Sơn Kim 1", 18.43, 105.25, 9_800.0, 4.0, ("none", 0)),
)
INDICATORS = (("GRDP_GROWTH", "%", 6.5), ("BUDGET_REVENUE", "tỷ đồng", 4_200.0), ("RETAIL_SALES", "tỷ đồng", 9_100.0))
FEEDBACK = (("road_damage", "resolved"), ("road_damage", "in_progress"), ("environment", "received"))


def feeds_points() -> list[str]:
    lines = []
    for u, (code, prov, level, name, lat, lon, pop, schools, (hazard, hz)) in enumerate(UNITS):
        tags = {"admin_code": code, "province_code": prov, "level": level}
        for month in range(12):
            t = _ms(datetime(2025 + (6 + month) // 12, (6 + month) % 12 + 1, 1, tzinfo=UTC))
            for k, (ind, unit, base) in enumerate(INDICATORS):
                value = base * (1 + 0.01 * month) * (1 + 0.1 * u)
                anomaly = int(month == 11 and k == 1)
                fields: dict[str, float | int | bool | str] = {
                    "value": value,
                    "plan": base * 1.2 * (1 + 0.1 * u),
                    "change_pct": 1.0,
                    "anomaly": anomaly,
                    "unit": unit,
                }
                if anomaly:
                    fields["anomaly_reason"] = "thu ngân sách dưới kế hoạch"
                ind_tags = {**tags, "indicator": ind, "period_type": "M", "status": "official"}
                lines.append(line("admin_indicator", ind_tags, fields, t))
            received, carried, late = 1000.0 + 10 * month, 50.0, 20.0 + month
            to_process = received + carried
            svc = {
                "received": received,
                "carried_over": carried,
                "resolved_on_time": received - late,
                "resolved_late": late,
                "in_progress_on_time": carried,
                "in_progress_late": 0.0,
                "to_process": to_process,
                "late_rate_pct": 100 * late / to_process,
                "on_time_rate_pct": 100 - 100 * late / to_process,
                "online_rate_pct": 60.0 + month,
                "satisfaction_pct": 90.0,
            }
            lines.append(line("public_service", {**tags, "period_type": "M"}, svc, t))
            for j, (category, status) in enumerate(FEEDBACK):
                fb_tags = {"admin_code": code, "province_code": prov, "category": category, "status": status}
                fb = {"count": 3 + j + month, "median_resolve_h": 30.0 + j}
                lines.append(line("citizen_feedback", fb_tags, fb, t))
        merged = {
            "hazard_level": hz,
            "hazard": hazard,
            "population": pop,
            "households": pop / 3.5,
            "schools": schools,
            "health_stations": schools / 10,
            "lat": lat,
            "lon": lon,
            "name": name,
        }
        lines.append(line("unit_hazard", tags, merged, _ms(datetime(2026, 6, 1, tzinfo=UTC))))
    return lines


def completeness_points(url: str, db: str, replays: list[Replay]) -> list[str]:
    """The completeness job run at noon on the replays' first days: today so far and yesterday per sensor."""
    nodes = [node_info(c) for r in replays for c in r.configs]
    reader = InfluxReader(url, db)
    try:
        lines: list[str] = []
        for noon in (TYPHOON_START + timedelta(days=1, hours=12), DRY_START + timedelta(hours=12)):
            lines += completeness_pass(reader, nodes, noon).lines
        return lines
    finally:
        reader.close()
