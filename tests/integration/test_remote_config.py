"""Remote configuration end to end: hub API -> retained config -> node applies it, loses nothing, reports it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.api.auth import Role
from tests.hub.api.support import TOKENS, api_section
from tests.support.influx import count, query
from tests.support.processes import AgentThread
from tests.support.wait import wait_until
from wire import ConfigMessage, Topics
from wire.nodeconfig import NodeConfig


def _config(tmp_path, port: int, sensors: int, heartbeat_s: float = 3600) -> dict:
    return {
        "node_id": "cfg-node-01",
        "data_dir": str(tmp_path / "node"),
        "heartbeat_s": heartbeat_s,
        "mqtt": {"port": port, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0},
        "outbox": {"confirm_timeout_s": 3.0, "synchronous": "NORMAL"},
        "sensors": [
            {
                "id": f"s{k}",
                "quantity": "water_level",
                "interval_s": 0.1,
                "driver": {"type": "simulated", "model": "constant", "params": {"value": float(k)}},
            }
            for k in range(sensors)
        ],
    }


def _put(port: int, node: str, body: dict, role: Role = Role.ADMIN) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/nodes/{node}/config",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {TOKENS[role]}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _publish_raw(port: int, topic: str, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def test_remote_config_applied_refused_and_remembered(tmp_path, make_hub, mosquitto, influx):
    hub = make_hub(api=api_section())
    node = AgentThread(NodeConfig.model_validate(_config(tmp_path, mosquitto.port, sensors=1))).start()
    try:
        wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 10, what="first readings")

        # Only an admin may set it, and the hub checks it first.
        assert _put(hub.http_port, "cfg-node-01", {"version": "v2", "config": {}}, Role.HYDROLOGY)[0] == 403
        code, body = _put(
            hub.http_port, "cfg-node-01", {"version": "v2", "config": {"node_id": "cfg-node-01", "heartbeat_s": -1}}
        )
        assert code == 422 and any(p["field"] == "config.heartbeat_s" for p in body["problems"])

        # A second sensor, sent through the API: the node applies it and reports the version.
        code, body = _put(
            hub.http_port, "cfg-node-01", {"version": "v2", "config": _config(tmp_path, mosquitto.port, 2)}
        )
        assert code == 200 and body["desired"]["version"] == "v2"
        wait_until(lambda: count(influx.url, "iocgw", "water_level", "WHERE sensor_id = 's1'") >= 10, what="new sensor")
        wait_until(
            lambda: hub.get_json("/api/nodes/cfg-node-01/config", TOKENS[Role.VIEWER])["in_sync"], what="in sync"
        )

        # A config the hub would refuse, sent straight to the broker: the node refuses it, says why, keeps running.
        bad = ConfigMessage(
            node_id="cfg-node-01", ts=datetime.now(UTC), version="v3", config={"node_id": "cfg-node-01", "sensors": 5}
        )
        _publish_raw(mosquitto.port, Topics("iocgw").config("cfg-node-01"), bad.model_dump_json().encode())
        wait_until(
            lambda: (hub.get_json("/api/nodes/cfg-node-01/config", TOKENS[Role.VIEWER])["refused"] or "").startswith(
                "config v3"
            ),
            what="refusal reported",
        )
        view = hub.get_json("/api/nodes/cfg-node-01/config", TOKENS[Role.VIEWER])
        assert view["applied_version"] == "v2" and "sensors" in view["refused"]
        before = count(influx.url, "iocgw", "water_level", "WHERE sensor_id = 's1'")
        wait_until(
            lambda: count(influx.url, "iocgw", "water_level", "WHERE sensor_id = 's1'") > before, what="still sampling"
        )
    finally:
        node.stop()

    # Nothing lost across the switch: every sequence number the node allocated is stored.
    wait_until(lambda: query(influx.url, "iocgw", "SELECT state FROM node_status WHERE state = 'stopped'"), what="stop")
    seqs = {int(r["seq"]) for r in query(influx.url, "iocgw", "SELECT seq FROM water_level")}
    seqs |= {int(r["seq"]) for r in query(influx.url, "iocgw", "SELECT seq FROM node_status")}
    assert not set(range(1, max(seqs) + 1)) - seqs

    # A restart on the old local file comes back on the remembered remote config (two sensors).
    again = AgentThread(NodeConfig.model_validate(_config(tmp_path, mosquitto.port, sensors=1))).start()
    try:
        assert again.agent is not None and again.agent.config_version == "v2"
        assert [s.id for s in again.agent.config.sensors] == ["s0", "s1"]
    finally:
        again.stop()


def test_model_update_from_the_hub_and_rollback(tmp_path, make_hub, mosquitto, influx, caplog):
    from tests.edge.test_model_store import _sha, make_model

    served = tmp_path / "hub-models"
    make_model(served / "tiny" / "1", "1")
    make_model(served / "tiny" / "2", "2", output_shape=[1, 5, 9])  # loads, but not as its manifest says
    hub = make_hub(api=api_section(), models_dir=str(served))
    node = AgentThread(NodeConfig.model_validate(_config(tmp_path, mosquitto.port, sensors=1))).start()

    def source(version: str) -> dict:
        return {
            "name": "tiny",
            "version": version,
            "url": f"http://127.0.0.1:{hub.http_port}/models/tiny/{version}/manifest.yaml",
            "sha256": _sha(served / "tiny" / version / "manifest.yaml"),
        }

    def status() -> dict:
        nodes = hub.get_json("/api/nodes", TOKENS[Role.VIEWER])["nodes"]
        return next((n.get("last_status") or {} for n in nodes if n["node_id"] == "cfg-node-01"), {})

    try:
        config = _config(tmp_path, mosquitto.port, 1) | {"models": [source("1")]}
        assert _put(hub.http_port, "cfg-node-01", {"version": "m1", "config": config})[0] == 200
        wait_until(lambda: status().get("models") == {"tiny": "1"}, what="model 1 in use")
        assert (tmp_path / "node" / "models" / "tiny" / "current").resolve().name == "1"

        config = _config(tmp_path, mosquitto.port, 1) | {"models": [source("2")]}
        assert _put(hub.http_port, "cfg-node-01", {"version": "m2", "config": config})[0] == 200
        wait_until(lambda: "rolled back to 1" in (status().get("config_error") or ""), what="rollback reported")
        assert status()["models"] == {"tiny": "1"}
        assert (tmp_path / "node" / "models" / "tiny" / "current").resolve().name == "1"
        # The node runs m2's config with model 1: not in sync while the refusal stands, and not healthy.
        view = hub.get_json("/api/nodes/cfg-node-01/config", TOKENS[Role.VIEWER])
        assert view["applied_version"] == "m2" and view["refused"] and view["in_sync"] is False
        node_row = next(
            n for n in hub.get_json("/api/nodes", TOKENS[Role.VIEWER])["nodes"] if n["node_id"] == "cfg-node-01"
        )
        assert node_row["health"] == "degraded"

        # A good push again: the refusal is over, the node healthy and in sync (before, "degraded" forever).
        config = _config(tmp_path, mosquitto.port, 1) | {"models": [source("1")]}
        assert _put(hub.http_port, "cfg-node-01", {"version": "m3", "config": config})[0] == 200

        def recovered():
            view = hub.get_json("/api/nodes/cfg-node-01/config", TOKENS[Role.VIEWER])
            rows = hub.get_json("/api/nodes", TOKENS[Role.VIEWER])["nodes"]
            row = next(n for n in rows if n["node_id"] == "cfg-node-01")
            return view["in_sync"] and row["health"] == "ok" and (view, row)

        view, row = wait_until(recovered, what="the node healthy and in sync again")
        assert view["refused"] is None and row["problems"] == []
    finally:
        node.stop()
    assert "model refused, the one in use kept" in caplog.text  # the node says so in its own log too


def test_a_node_is_healthy_again_once_the_broker_is_back(tmp_path, make_hub, mosquitto, influx):
    """Before, one broker restart left the node's last_error set, and the hub showed it degraded forever."""
    hub = make_hub(api=api_section())
    node = AgentThread(NodeConfig.model_validate(_config(tmp_path, mosquitto.port, sensors=1, heartbeat_s=0.5))).start()

    def row() -> dict:
        nodes = hub.get_json("/api/nodes", TOKENS[Role.VIEWER])["nodes"]
        return next((n for n in nodes if n["node_id"] == "cfg-node-01"), {})

    try:
        wait_until(lambda: row().get("health") == "ok", what="the node healthy")
        mosquitto.kill()
        wait_until(lambda: node.call(lambda a: a.link.last_error), what="the node sees the outage")
        mosquitto.start()
        wait_until(lambda: node.call(lambda a: a.link.connected), timeout=60, what="the node reconnected")
        # A sequence number taken now is below that of every status the node sends from here on.
        after = node.call(lambda a: a.outbox.allocate_seq())
        back = wait_until(
            lambda: ((r := row()).get("last_status") or {}).get("seq", 0) > after and r,
            timeout=60,
            what="a status sent after the reconnection",
        )
        assert back["health"] == "ok"
        assert back["problems"] == [] and not back["last_status"].get("last_error")
        assert node.call(lambda a: a.link.last_error) is None
    finally:
        node.stop()
