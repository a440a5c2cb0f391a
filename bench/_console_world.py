"""The province bench.console shows: a real hub process fed over MQTT, with 72 h of river history in InfluxDB.

``stations`` river stations spread over the provinces of the unit table the hub ships, the first ``alarmed`` of them
over BĐ1, BĐ2 or BĐ3 (placed in ten provinces, so the disaster-risk alarms stay few), and ``cameras`` forest camera
nodes, ``fires`` of which have a confirmed detection with its snapshot. Everything the page shows goes the way it
goes in the field: node configs seed the registry, statuses, readings, events and snapshots arrive over MQTT, the
engine raises the alarms. Only the history the page charts is written straight into InfluxDB (in the ingest's
layout), since replaying 72 h of 500 stations through MQTT would measure the ingest, not the console."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import yaml

from hub.api.auth import hash_token
from hub.config import HubInflux
from hub.feeds.units import load_units
from hub.store.influx import InfluxWriter, Outcome
from hub.store.line_protocol import line
from wire.topics import Topics

TOKEN = "bench-console-officer-token-0123456789"
DB = "iocgw"
BD = (10.0, 11.0, 12.0)
RIVERS = ["Hồng", "Đà", "Thao", "Lô", "Cả", "Mã", "Hương", "Thu Bồn", "Trà Khúc", "Ba", "Đồng Nai", "Tiền", "Hậu"]
HISTORY_H = 72
STEP_MIN = 10


@dataclass(frozen=True)
class Sizes:
    stations: int
    alarmed: int
    cameras: int
    fires: int


def _provinces() -> list[tuple[str, str, float, float]]:
    units = load_units()
    return [
        (u.code, u.name, float(u.lat), float(u.lon))
        for u in units.current.values()
        if len(u.code) == 2 and u.lat is not None and u.lon is not None
    ]


def _place(i: int, province: tuple[str, str, float, float]) -> tuple[float, float]:
    """A deterministic spot within about 40 km of the province's centre."""
    angle = i * 2.399963  # the golden angle: points spread without a random generator
    r = 0.35 * math.sqrt((i % 97) / 97)
    return round(province[2] + r * math.sin(angle), 4), round(province[3] + r * math.cos(angle), 4)


def station_level(i: int, sizes: Sizes) -> float:
    """Now: alarmed stations a third each over BĐ1, BĐ2, BĐ3; the rest below BĐ1."""
    if i < sizes.alarmed:
        return (BD[0] + 0.3, BD[1] + 0.3, BD[2] + 0.4)[i % 3]
    return 7.0 + (i % 20) / 10


class World:
    """Node configs, rule tables and the hub config of the province; then its history and its live messages."""

    def __init__(self, work: Path, sizes: Sizes) -> None:
        self.work = work
        self.sizes = sizes
        provinces = _provinces()
        # Alarmed stations in ten provinces, the others spread over the rest.
        alarm_provs, quiet_provs = provinces[:10], provinces[10:] or provinces
        self.stations: list[dict[str, Any]] = []
        self.nodes: list[dict[str, Any]] = []
        for i in range(sizes.stations):
            prov = alarm_provs[i % 10] if i < sizes.alarmed else quiet_provs[i % len(quiet_provs)]
            lat, lon = _place(i, prov)
            node_id = f"st-{i:03d}"
            name = f"Trạm thủy văn số {i + 1}"
            self.stations.append(
                {
                    "station_id": f"tram-{i:03d}",
                    "node_id": node_id,
                    "sensor_id": "stage",
                    "river": RIVERS[i % len(RIVERS)],
                    "name": name,
                    "province": prov[1],
                    "bd1_m": BD[0],
                    "bd2_m": BD[1],
                    "bd3_m": BD[2],
                    "source": "bench.console (illustrative)",
                }
            )
            site = {"name": name, "kind": "river_station", "admin_code": prov[0], "lat": lat, "lon": lon}
            driver = {"type": "simulated", "model": "constant", "params": {"value": 7.0}}
            stage = {"id": "stage", "quantity": "water_level", "interval_s": 600, "driver": driver}
            self.nodes.append({"node_id": node_id, "site": site, "sensors": [stage]})
        self.cameras: list[tuple[str, str]] = []
        for i in range(sizes.cameras):
            prov = provinces[i % len(provinces)]
            lat, lon = _place(1000 + i, prov)
            node_id = f"cam-{i:03d}"
            site = {"name": f"Chòi canh lửa số {i + 1}", "kind": "forest_camera", "admin_code": prov[0]}
            self.nodes.append({"node_id": node_id, "site": {**site, "lat": lat, "lon": lon}})
            self.cameras.append((node_id, "thap-1"))

    def hub_config(self, broker_port: int, influx_url: str) -> dict[str, Any]:
        rules = self.work / "rules"
        seeds = self.work / "nodes"
        rules.mkdir(parents=True, exist_ok=True)
        seeds.mkdir(parents=True, exist_ok=True)
        (rules / "flood.yaml").write_text(yaml.safe_dump({"stations": self.stations}, allow_unicode=True), "utf-8")
        for node in self.nodes:
            (seeds / f"{node['node_id']}.yaml").write_text(yaml.safe_dump(node, allow_unicode=True), "utf-8")
        token = {"name": "truc-ban-1", "role": "officer", "token_sha256": hash_token(TOKEN)}
        return {
            "mqtt": {"host": "127.0.0.1", "port": broker_port, "client_id": "iocgw-bench-console"},
            "influx": {"url": influx_url, "database": DB},
            "registry": {"seed_files": [str(seeds / "*.yaml")]},
            "http": {"host": "127.0.0.1"},
            "alerts": {"flood_stations": str(rules / "flood.yaml"), "freshness": {"enabled": False}},
            "api": {"tokens": [token]},
        }

    def write_history(self, influx_url: str, now: datetime) -> int:
        """72 h of 10-minute readings per station, rising to the level they stand at now (the newest comes by MQTT)."""
        writer = InfluxWriter(HubInflux(url=influx_url, database=DB))
        written = 0
        try:
            lines: list[str] = []
            steps = HISTORY_H * 60 // STEP_MIN
            for i, st in enumerate(self.stations):
                node = self.nodes[i]
                tags = {"admin_code": node["site"]["admin_code"], "node_id": st["node_id"], "sensor_id": "stage"}
                end = station_level(i, self.sizes)
                for k in range(steps, 0, -1):
                    ts = now - timedelta(minutes=STEP_MIN * k)
                    # A slow rise over three days with a daily wobble: something a chart shows as a river.
                    value = end - 2.5 * k / steps + 0.15 * math.sin(k / 18 + i)
                    fields = {"value": round(value, 3), "quality": "good", "seq": 0}
                    lines.append(line("water_level", tags, fields, int(ts.timestamp() * 1000)))
                if len(lines) >= 50_000:
                    written += _write(writer, lines)
                    lines = []
            if lines:
                written += _write(writer, lines)
        finally:
            writer.close()
        return written


def _write(writer: InfluxWriter, lines: list[str]) -> int:
    result = writer.write_once("\n".join(lines).encode())
    if result.outcome is not Outcome.WRITTEN:
        raise RuntimeError(f"InfluxDB refused the history: {result}")
    return len(lines)


class Feed:
    """One MQTT connection publishing as the province's nodes would (QoS 1, each publish awaited)."""

    def __init__(self, port: int) -> None:
        self.topics = Topics("iocgw")
        self.seq: dict[str, int] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-console-feed")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def _publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(30)

    def _head(self, node: str, channel: str) -> dict[str, Any]:
        self.seq[node] = self.seq.get(node, 0) + 1
        return {"v": 1, "node_id": node, "seq": self.seq[node], "ts": datetime.now(UTC).isoformat(), "channel": channel}

    def status(self, node: str, extra: dict[str, float] | None = None) -> None:
        msg = {**self._head(node, "status"), "state": "online", "uptime_s": 86_400.0, "outbox_depth": 0}
        msg.update({"software": "iocgw 0.1", "extra": extra or {}})
        self._publish(self.topics.status(node), json.dumps(msg))

    def stage(self, node: str, value: float) -> None:
        reading = {"sensor_id": "stage", "quantity": "water_level", "value": value, "unit": "m"}
        self._publish(self.topics.telemetry(node), json.dumps({**self._head(node, "telemetry"), "readings": [reading]}))

    def fire(self, node: str, camera: str, jpeg: bytes) -> None:
        now = datetime.now(UTC).isoformat()
        snapshot = self.topics.snapshot(node, camera, "fire")
        event = {
            **self._head(node, "event"),
            "event_id": f"evt-{node}",
            "phase": "new",
            "camera": camera,
            "label": "fire",
            "score": 0.88,
            "top_score": 0.91,
            "box": [0.42, 0.30, 0.70, 0.55],
            "start": now,
            "snapshot": snapshot,
        }
        self._publish(snapshot, jpeg, retain=True)
        self._publish(self.topics.event(node), json.dumps(event))


def snapshot_jpeg(seed: int) -> bytes:
    """A 640x360 picture of a hillside with a bright patch where the box is (no camera here: a drawn one)."""
    h, w = 360, 640
    y = np.linspace(0, 1, h)[:, None]
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (60, 110, 70)
    img[: h // 3] = (200, 170, 140)  # sky (BGR)
    img[:, :, 1] = np.clip(img[:, :, 1] + (y * 40).astype(np.uint8), 0, 255)
    cv2.ellipse(img, (w * 43 // 100, h * 56 // 100), (60, 40), 0, 0, 360, (40, 120, 250), -1)
    cv2.putText(img, f"cam {seed}", (10, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise RuntimeError("could not encode the snapshot")
    return buf.tobytes()


def feed_live(world: World, feed: Feed, reserved: int) -> None:
    """Every node's status, every station's current level but the last ``reserved`` (whose first reading the
    benchmark sends later, over BĐ1: a first reading, so quality control has no earlier one to call it a spike
    against), the fires with their snapshots."""
    for i, st in enumerate(world.stations):
        feed.status(st["node_id"])
        if i < len(world.stations) - reserved:
            feed.stage(st["node_id"], station_level(i, world.sizes))
    for j, (node, camera) in enumerate(world.cameras):
        feed.status(node, {f"cam.{camera}.fps": 5.0, f"cam.{camera}.infer_ms": 70.0 + j % 30})
        if j < world.sizes.fires:
            feed.fire(node, camera, snapshot_jpeg(j))
