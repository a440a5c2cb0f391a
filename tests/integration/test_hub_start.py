"""Starting the hub: a taken HTTP port stops it before it touches the broker, with a plain message."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from testkit.hubproc import REPO


def test_a_taken_http_port_stops_the_hub_before_it_takes_a_running_hubs_mqtt_session(tmp_path, mosquitto, influx):
    # The running hub's MQTT session, and the port its HTTP server holds.
    disconnected = threading.Event()
    running = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="iocgw-hub-1")
    running.on_disconnect = lambda *a: disconnected.set()
    running.connect("127.0.0.1", mosquitto.port)
    running.loop_start()
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    config = {
        "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "client_id": "iocgw-hub-1"},
        "influx": {"url": influx.url, "database": "iocgw"},
        "http": {"host": "127.0.0.1", "port": port},
        "data_dir": str(tmp_path / "data"),
    }
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "iocgw", "hub", "run", "--config", str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 1
        assert f"iocgw hub: not started: cannot listen on http 127.0.0.1:{port}" in proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
        assert "running" not in proc.stdout  # no banner for a hub that never ran
        # A round trip through the broker after the failed start: a session taken over would be gone by now.
        running.publish("probe/hub-start", b"x", qos=1).wait_for_publish(5)
        assert not disconnected.is_set()  # its session was never taken over
        assert running.is_connected()
    finally:
        running.loop_stop()
        running.disconnect()
        taken.close()
