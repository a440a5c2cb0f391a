"""`iocgw edge run` as a real process: SIGKILLed (a power cut) mid-stream and started again loses nothing written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import yaml

from tests.support.influx import count, query
from tests.support.wait import wait_until


def start_edge(config_path, log_path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "iocgw", "edge", "run", "--config", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def test_edge_process_power_cut_and_restart(tmp_path, make_hub, mosquitto, influx):
    make_hub()
    config = {
        "node_id": "river-kill-01",
        "data_dir": str(tmp_path / "edge"),
        "heartbeat_s": 3600,
        "mqtt": {"port": mosquitto.port, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0},
        "outbox": {"confirm_timeout_s": 3.0},
        "sensors": [
            {
                "id": f"s{k}",
                "quantity": "water_level",
                "interval_s": 0.05,
                "driver": {"type": "simulated", "model": "constant", "params": {"value": float(k)}},
            }
            for k in range(3)
        ],
    }
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(config))
    edge = start_edge(path, tmp_path / "edge.log")
    wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 150, what="readings from the first run")
    edge.send_signal(signal.SIGKILL)
    edge.wait()
    edge = start_edge(path, tmp_path / "edge.log")
    before = count(influx.url, "iocgw", "water_level")
    wait_until(lambda: count(influx.url, "iocgw", "water_level") >= before + 150, what="readings after the restart")
    edge.send_signal(signal.SIGTERM)
    assert edge.wait(30) == 0
    # Every sequence number the node allocated is stored: telemetry, or a status (online, the last will the broker
    # published for the killed process, stopped). No gap at all: the clean stop drains the outbox first, and its
    # goodbye carries the number of the will it discards.
    wait_until(lambda: query(influx.url, "iocgw", "SELECT state FROM node_status WHERE state = 'stopped'"), what="stop")
    telemetry = {int(r["seq"]) for r in query(influx.url, "iocgw", "SELECT seq FROM water_level")}
    statuses = {int(r["seq"]) for r in query(influx.url, "iocgw", "SELECT seq FROM node_status")}
    seen = telemetry | statuses
    missing = set(range(1, max(seen) + 1)) - seen
    assert not missing, f"sequence numbers lost: {sorted(missing)[:20]}"
    assert {r["state"] for r in query(influx.url, "iocgw", "SELECT state FROM node_status")} >= {"online", "offline"}
