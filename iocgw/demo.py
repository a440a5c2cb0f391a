"""`iocgw demo`: the whole system on one machine, with a live summary.

Mosquitto and InfluxDB start as child processes in the runtime folder, the hub runs in this process, and the
typhoon-flood scenario's simulated nodes feed it, the whole scenario compressed into the chosen duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from edge.outbox import Outbox
from hub.api.auth import hash_token
from hub.config import HubConfig
from hub.service import Hub
from hub.store.influx_query import count, query
from simulators.sensors.runner import run_scenario
from simulators.sensors.scenario import (
    alarm_levels,
    build_node_configs,
    link_loss_windows,
    load_scenario,
    write_node_configs,
)
from wire import Quantity, TelemetryMessage
from wire.nodeconfig import NodeConfig

if TYPE_CHECKING:
    from testkit.localsvc import InfluxDB

SCENARIO = "typhoon_flood"
READINGS = "/^(" + "|".join(q.value for q in Quantity) + ")$/"  # the raw readings, not the derived levels


def _alerts_config(configs: list[NodeConfig], levels: dict[str, Any], runtime: Path) -> dict[str, Any]:
    """Flood stations from the scenario's alarm levels, every rain sensor as a gauge."""
    sites = {c.node_id: c.site for c in configs}
    stations = []
    for node_id, lv in levels.items():
        name = sites[node_id].name if node_id in sites else node_id
        river = name.split("sông ")[-1] if "sông " in name else ""
        stations.append(
            {
                "station_id": node_id,
                "node_id": node_id,
                "sensor_id": "stage",
                "river": river or name,
                "name": name.split(",")[0],
                "province": sites[node_id].admin_code or "" if node_id in sites else "",
                "bd1_m": lv.bd1_m,
                "bd2_m": lv.bd2_m,
                "bd3_m": lv.bd3_m,
                "source": lv.source or "scenario",
            }
        )
    path = runtime / "hub-rules" / "flood_stations.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"stations": stations}, allow_unicode=True), encoding="utf-8")
    gauges = [
        {"gauge_id": c.node_id, "node_id": c.node_id, "sensor_id": s.id}
        for c in configs
        for s in c.sensors
        if s.quantity is Quantity.RAINFALL
    ]
    # The scenario plays days in minutes, so sampling intervals are fractions of a second: allow more silence.
    return {"flood_stations": str(path), "rain_gauges": gauges, "freshness": {"grace_factor": 40}}


def _print_alarms(hub: Hub, printed: set[tuple[str, int]]) -> None:
    store = getattr(hub, "alert_store", None)
    if store is None:
        return
    for alarm in sorted(store.alarms(limit=1000), key=lambda a: a.updated_at):
        key = (alarm.id, alarm.revision)
        if key in printed:
            continue
        printed.add(key)
        if alarm.revision == 0 or not alarm.state.active or alarm.rule in ("flood_level", "disaster_risk"):
            print(
                f"  alert {alarm.state.value:<13} {alarm.severity.value:<8} {alarm.rule:<15} {alarm.message}",
                flush=True,
            )


def _level(stage: float, levels: Any) -> str:
    for name, bound in (("BĐ3", levels.bd3_m), ("BĐ2", levels.bd2_m), ("BĐ1", levels.bd1_m)):
        if stage >= bound:
            return name
    return "below BĐ1"


def _summary_line(hub: Hub, influx: InfluxDB, levels: dict[str, Any], t0: float, scale: float) -> str:
    m = hub.metrics.counters
    stored = count(influx.url, "iocgw", READINGS)
    nodes = hub.read_state.nodes()
    online = sum(1 for n in nodes if n.get("state") == "online")
    scenario_h = (time.monotonic() - t0) * scale / 3600
    rivers = []
    if levels:
        rows = query(influx.url, "iocgw", 'SELECT last("value") FROM "water_level" GROUP BY "node_id"')
        for row in rows:
            lv = levels.get(row.get("node_id", ""))
            if lv is not None:
                rivers.append(f"{row['node_id']} {row['last']:.2f} m ({_level(row['last'], lv)})")
    spool = hub.pipeline.health()["spool_lines"]
    return (
        f"[scenario +{scenario_h:5.1f} h] nodes online {online}/{len(nodes)} | readings in {m['readings_received']} "
        f"stored {stored} | duplicates {m['duplicates']} dead letters {m['dead_letters']} spool {spool}"
        + (" | " + "; ".join(rivers) if rivers else "")
    )


def _readings_in_outbox(path: Path) -> int:
    if not path.exists():
        return 0
    box = Outbox(path)
    try:
        rows = box.after(0, 10_000_000)
        return sum(
            len(TelemetryMessage.model_validate_json(r.payload).readings)
            for r in rows
            if r.topic.endswith("/telemetry")
        )
    finally:
        box.close()


class DemoUnavailable(RuntimeError):
    """The demo runs its own Mosquitto and InfluxDB through testkit/, which a source checkout has and an installed
    package does not (the test harness is not shipped)."""


async def _demo(runtime: Path, duration_s: float, nodes: int | None) -> int:
    try:
        from testkit.localsvc import InfluxDB, Mosquitto, free_port
    except ImportError:
        raise DemoUnavailable(
            "iocgw demo runs from a source checkout (git clone, then bash scripts/setup.sh): it starts Mosquitto and "
            "InfluxDB through testkit/, which an installed package does not include"
        ) from None
    broker = Mosquitto(runtime / "mosquitto")
    influx = InfluxDB(runtime / "influxdb")
    print(f"demo: starting Mosquitto on 127.0.0.1:{broker.port} and InfluxDB on {influx.url} in {runtime}", flush=True)
    broker.start()
    influx.start()
    try:
        scenario = load_scenario(SCENARIO)
        scale = scenario.duration_s / duration_s if duration_s > 0 else scenario.time_scale
        configs = build_node_configs(
            scenario,
            broker_port=broker.port,
            data_dir=runtime / "nodes",
            nodes_override=nodes,
            time_scale=scale,
            start=datetime.now(UTC),
        )
        write_node_configs(configs, runtime / "node-configs")
        levels = alarm_levels(scenario, nodes_override=nodes)
        http_port = free_port()
        token = secrets.token_urlsafe(24)  # a fresh admin token per demo, shown once below
        hub = Hub(
            HubConfig.model_validate(
                {
                    "data_dir": str(runtime / "hub"),
                    "mqtt": {"port": broker.port},
                    "influx": {"url": influx.url},
                    "registry": {"seed_files": [str(runtime / "node-configs" / "*.yaml")]},
                    "http": {"port": http_port},
                    "alerts": _alerts_config(configs, levels, runtime),
                    "api": {"tokens": [{"name": "demo", "role": "admin", "token_sha256": hash_token(token)}]},
                }
            )
        )
        await hub.start()
        print(f"demo: operator page http://127.0.0.1:{hub.http_port}/  (token: {token})", flush=True)
        grafana = write_grafana_provisioning(runtime / "grafana", influx.url)
        print(
            f"demo: Grafana provisioning in {grafana} (point a Grafana at it: GF_PATHS_PROVISIONING={grafana}; "
            "see docs/grafana.md)",
            flush=True,
        )
        print(
            f"demo: hub up (http://127.0.0.1:{hub.http_port}/healthz, /metrics, /api/nodes); {len(configs)} simulated "
            f"nodes of scenario '{SCENARIO}', {scenario.duration_s / 3600:.0f} h of scenario in "
            f"{duration_s or scenario.wall_duration_s:.0f} s",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        t0 = time.monotonic()
        printed: set[tuple[str, int]] = set()
        sim = asyncio.create_task(
            run_scenario(
                configs,
                duration_s=duration_s if duration_s > 0 else float("inf"),
                link_loss=link_loss_windows(scenario, nodes_override=nodes),
                stop=stop,
                time_scale=scale,
                progress_every_s=3600.0,
            )
        )
        while not sim.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(sim), 5.0)
            print(_summary_line(hub, influx, levels, t0, scale), flush=True)
            _print_alarms(hub, printed)
        summary = sim.result()
        made = int(summary.get("readings_total", 0))
        left = sum(_readings_in_outbox(c.outbox_path) for c in configs)
        deadline = time.monotonic() + 15
        stored = count(influx.url, "iocgw", READINGS)
        while stored + left < made and time.monotonic() < deadline:
            await asyncio.sleep(0.2)  # the last batches are on their way from the broker
            stored = count(influx.url, "iocgw", READINGS)
        print(_summary_line(hub, influx, levels, t0, scale), flush=True)
        _print_alarms(hub, printed)
        # Messages still in an outbox may be stored already (the hub's ack was on its way when the node stopped).
        lost = max(0, made - stored - left)
        print(
            f"demo: nodes made {made} readings; InfluxDB holds {stored}; {left} wait in node outboxes for the hub's "
            f"ack (kept on disk, resent when the nodes start again); lost {lost}; "
            f"dead letters {hub.metrics.counters['dead_letters']}",
            flush=True,
        )
        await hub.stop()
        return 0 if lost == 0 else 1
    finally:
        broker.stop()
        influx.stop()


def run_demo(runtime: Path, duration_s: float = 60.0, nodes: int | None = None) -> int:
    """Start everything, run the scenario, print a summary every 5 s; exit code 0 when nothing was lost."""
    runtime = runtime.resolve()
    for sub in ("mosquitto", "influxdb", "hub", "nodes", "node-configs"):
        shutil.rmtree(runtime / sub, ignore_errors=True)  # each demo starts clean
    runtime.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(_demo(runtime, duration_s, nodes))
    except DemoUnavailable as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2


def write_grafana_provisioning(out: Path, influx_url: str) -> Path:
    """Datasource, dashboards and alert rules for this demo's InfluxDB; returns the provisioning folder."""
    from hub.grafana.bundle import BundleOptions
    from hub.grafana.export import export

    export(out, BundleOptions.model_validate({"influx": {"url": influx_url, "database": "iocgw"}}))
    return (out / "provisioning").resolve()
