"""bench.multihub's scenarios: the replay (scenario time, a topic prefix of its own) and the hub config of each run.

Each scenario's rule tables are those of tests/integration/test_alert_scenarios.py (the flood stations with their
BĐ1-3 from the scenario's sites, one rain gauge per area, the Nesterov fire area and the camera table), so the one-hub
reference here is the run those tests check against the pure rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from hub.alerts.rules.flood_levels import FloodStation
from hub.alerts.rules.nesterov import load_nesterov_config
from simulators.sensors.replay import Replay, build_replay, load_replay_scenario
from simulators.sensors.scenario import alarm_levels, write_node_configs

SAMPLES = Path(__file__).resolve().parents[1] / "hub" / "alerts" / "sample_rules"
SECRET_ENV = "IOCGW_BENCH_MULTIHUB_WEBHOOK_SECRET"
SCENARIOS = ("typhoon_flood", "dry_season_fire")
FIRE_AREA = "huong-son"
FIRE_STATION = "env-huongson-001"
# Every change a route may send but 'updated' (one per reading) and 'acknowledged' (nobody acknowledges here): the
# alarm's whole climb and descent is compared, not only what the default route sends.
TRANSITIONS = ["created", "escalated", "deescalated", "cleared"]
LOCAL = timedelta(hours=7)


def local_midnight_days_ago(days: int) -> datetime:
    """Local (UTC+7) midnight ``days`` days before today's: device times in the recent past, which the hub takes
    (it refuses times from the future), with 13:00 local on every 10- and 15-minute sample."""
    local_now = datetime.now(UTC) + LOCAL
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    return (midnight - LOCAL).replace(tzinfo=UTC)


@dataclass
class Setup:
    """One scenario's replay for one run and the hub config sections that go with it."""

    name: str
    replay: Replay
    alerts: dict[str, Any]
    registry: dict[str, Any]
    quantities: list[str]  # the InfluxDB measurements of the replayed readings


def scenario_setup(name: str, folder: Path, broker_port: int, prefix: str, until_s: float | None) -> Setup:
    """The scenario sampled on scenario time (t=0 a local midnight 20 days ago), its nodes' seed files and rules."""
    folder.mkdir(parents=True, exist_ok=True)
    scenario = load_replay_scenario(name)
    start = local_midnight_days_ago(20)
    replay = build_replay(
        scenario, start, broker_port=broker_port, data_dir=folder / "outboxes", prefix=prefix, until_s=until_s
    )
    write_node_configs(replay.configs, folder / "nodes")
    registry = {"seed_files": [str(folder / "nodes" / "*.yaml")], "accept_unknown_nodes": True}
    if name == "typhoon_flood":
        alerts = _flood_alerts(replay, folder)
    elif name == "dry_season_fire":
        alerts = _fire_alerts()
    else:
        raise ValueError(f"no rule set for scenario {name!r} (known: {', '.join(SCENARIOS)})")
    quantities = sorted({r.quantity.value for bs in replay.batches.values() for b in bs for r in b.readings})
    return Setup(name, replay, alerts, registry, quantities)


def _flood_alerts(replay: Replay, folder: Path) -> dict[str, Any]:
    scenario = replay.scenario
    groups = {g.node_id(1): g for g in scenario.groups}
    stations = []
    for node, lv in alarm_levels(scenario).items():
        site = groups[node].site
        stations.append(
            FloodStation(
                station_id=node,
                node_id=node,
                sensor_id="stage",
                river=(site.name or node).split("sông ")[-1],
                name=site.name or node,
                province=site.admin_code or "",
                bd1_m=lv.bd1_m,
                bd2_m=lv.bd2_m,
                bd3_m=lv.bd3_m,
                source=lv.source,
                hysteresis_m=0.1,  # as the scenario test: Sơn Tây's dip between two crests stays one alarm
            )
        )
    table = folder / "flood.yaml"
    table.write_text(
        yaml.safe_dump({"stations": [s.model_dump(exclude_none=True) for s in stations]}, allow_unicode=True),
        encoding="utf-8",
    )
    gauges = [s.node_id for s in stations if s.node_id != "river-sontay-01"]
    return {
        "flood_stations": str(table),
        "rain_bands": str(SAMPLES / "heavy_rain.yaml"),
        "rain_gauges": [{"gauge_id": f"{n}-rain", "node_id": n, "sensor_id": "rain"} for n in gauges],
        "freshness": {"enabled": False},
    }


def _fire_alerts() -> dict[str, Any]:
    settings = load_nesterov_config(SAMPLES / "nesterov.yaml")
    station = FIRE_STATION
    return {
        "nesterov_files": [str(SAMPLES / "nesterov.yaml")],
        "fire_areas": [
            {
                "area_id": FIRE_AREA,
                "area": "42",
                "nesterov": settings.province,
                "temperature": {"node_id": station, "sensor_id": "temperature"},
                "humidity": {"node_id": station, "sensor_id": "humidity"},
                "rain": {"node_id": station, "sensor_id": "rain"},
            }
        ],
        "camera_table": str(SAMPLES / "camera.yaml"),
        "freshness": {"enabled": False},
    }


def hub_config(
    setup: Setup, broker_port: int, influx_url: str, db: str, webhook_url: str, client_id: str, group: str | None
) -> dict[str, Any]:
    """One hub of a run: its own client id (and, through HubProcess, its own data dir and HTTP port)."""
    mqtt: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": broker_port,
        "client_id": client_id,
        "prefix": setup.replay.configs[0].mqtt.prefix,
    }
    if group is not None:
        mqtt["shared_group"] = group
    return {
        "mqtt": mqtt,
        "influx": {"url": influx_url, "database": db},
        "batch": {"max_delay_s": 0.1, "retry_budget_s": 1.0},
        "registry": setup.registry,
        "http": {"host": "127.0.0.1"},
        "alerts": setup.alerts,
        "notify": {
            "retry_initial_s": 0.2,
            "rate_limit_per_min": 600_000,  # days play in seconds: measure the alarms, not the rate limiter
            "rate_limit_burst": 10_000,
            "targets": [{"type": "webhook", "name": "ioc", "url": webhook_url, "secret": {"env": SECRET_ENV}}],
            "routes": [{"name": "all", "transitions": TRANSITIONS, "targets": ["ioc"]}],
        },
    }
