"""site.yml applied for real to a throwaway root on this machine: a hub host and an edge node talking TLS.

The target is a temp folder used as both roles' install prefix (``iocgw_*_root``) over a local connection as root:
no container or systemd runs here, so ``iocgw_*_manage_systemd: false`` writes the units without talking to
systemd and ``iocgw_*_manage_packages: false`` leaves apt alone (Mosquitto and InfluxDB are already installed).
Everything between the node and InfluxDB is then what the roles installed: Mosquitto runs from the provisioning
bundle the hub role put in place (TLS listener, certificate identities, ACL, persistence), the hub and the node run
from their units' ExecStart (tests/ansible/services.py), and the readings land in the database the hub role created
(the hub is told not to create it). Only InfluxDB itself is a fixture. One test, so the slow part (each
ansible-playbook run) happens as few times as possible: first run, idempotent second run, refused config.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.provision.ca import PkiDir
from iocgw.cli import main as iocgw
from tests.ansible.playbook import REPO, parse_unit, run_playbook
from tests.ansible.services import port_open, port_outside_ephemeral_range, start_unit, stop
from tests.support.influx import count, query
from tests.support.wait import wait_until

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(os.geteuid() != 0, reason="the roles create a system user and chown files: needs root"),
]

NODE_CONFIG = REPO / "firmware_configs/examples/river-station-longbien.yaml"
NODE_ID = "hn-longbien-01"
DATABASE = "iocgw_site"
PASSWORD = "s3cret-not-in-logs"
# The throwaway root starts with what any Debian system has; the roles create everything below these.
BASE_SYSTEM = ("etc/systemd/system", "opt", "var/lib", "var/log")


def provision(out: Path, root: Path, tls_port: int) -> PkiDir:
    """A CA, the broker's, the hub's and the node's certificates, and the Mosquitto bundle for the target's paths."""
    pki = PkiDir(out / "pki")
    d = str(pki.root)
    steps = [
        ["ca", "init", "--dir", d],
        ["server", "--dir", d, "--host", "localhost", "--ip", "127.0.0.1"],
        ["hub", "--dir", d],
        ["node", NODE_ID, "--dir", d],
        # The bundle names the paths it will have on the broker host: the role checks they match its own.
        [
            *("mosquitto", "--registry", str(NODE_CONFIG), "--dir", d, "--out", str(out / "bundle")),
            *("--conf-dir", str(root / "etc/mosquitto/iocgw"), "--data-dir", str(root / "var/lib/mosquitto")),
            *("--port", str(tls_port), "--bind", "127.0.0.1", "--run-as", "root"),
        ],
    ]
    for step in steps:
        assert iocgw(["provision", *step]) == 0, step
    return pki


def tls(directory: str, cert: str) -> dict[str, str]:
    return {
        "ca_file": f"{directory}/ca.crt",
        "cert_file": f"{directory}/{cert}.crt",
        "key_file": f"{directory}/{cert}.key",
    }


def host_vars(
    tmp: Path, root: Path, user: str, wheel: Path, pki: PkiDir, ports: dict[str, int], influx_url: str
) -> tuple[dict[str, Any], str]:
    """Both roles' variables for the test, and the sha256 of the model file it installs."""
    model = tmp / "fire_smoke.tflite"
    model.write_bytes(b"not really a model, but bytes with a known sha256" * 100)
    model_sha = hashlib.sha256(model.read_bytes()).hexdigest()
    common = {
        "root": str(root),
        "manage_systemd": False,
        "user": user,
        "group": user,
        # Offline: a venv seeing the project's packages (through a .pth file), and only the wheel installed into it.
        "virtualenv_command": f"{sys.executable} -m venv",
        "venv_site_packages": True,
        "venv_extra_site_dirs": [sysconfig.get_path("purelib")],
        "wheel": str(wheel),
        "pip_extra_args": "--no-deps --no-index",
    }
    common["manage_packages"] = False  # Mosquitto, InfluxDB and python's venv are already on this machine
    hub = {f"iocgw_hub_{k}": v for k, v in common.items()} | {
        "iocgw_hub_data_dir": "{{ iocgw_hub_prefix }}/var/lib/iocgw-hub",  # not inside the node's data dir
        "iocgw_hub_mosquitto_bundle_dir": str(tmp / "bundle"),
        "iocgw_hub_mosquitto_user": "root",
        "iocgw_hub_influxdb_url": influx_url,
        "iocgw_hub_influxdb_database": DATABASE,
        "iocgw_hub_tls_ca_file": str(pki.ca_cert),
        "iocgw_hub_tls_cert_file": str(pki.hub_cert("iocgw-hub")),
        "iocgw_hub_tls_key_file": str(pki.hub_key("iocgw-hub")),
        "iocgw_hub_config_extra_files": [{"src": str(NODE_CONFIG), "dest": "nodes/river.yaml"}],
        "iocgw_hub_secret_environment": {"IOCGW_TEST_SECRET": PASSWORD},
        "iocgw_hub_config": {
            "mqtt": {"host": "localhost", "port": ports["tls"], "client_id": "iocgw-hub"}
            | {"tls": tls("{{ iocgw_hub_tls_dir }}", "hub")},
            "influx": {"url": influx_url, "database": DATABASE, "create_database": False},
            "batch": {"max_delay_s": 0.1},
            "registry": {"seed_files": ["nodes/*.yaml"], "accept_unknown_nodes": False},
            "http": {"host": "127.0.0.1", "port": ports["http"]},
        },
        "iocgw_hub_grafana_export_dir": str(tmp / "grafana"),
        "iocgw_hub_grafana_group": "root",
    }
    edge = {f"iocgw_edge_{k}": v for k, v in common.items()} | {
        "iocgw_edge_config_file": str(NODE_CONFIG),
        "iocgw_edge_tls_ca_file": str(pki.ca_cert),
        "iocgw_edge_tls_cert_file": str(pki.node_cert(NODE_ID)),
        "iocgw_edge_tls_key_file": str(pki.node_key(NODE_ID)),
        "iocgw_edge_mqtt_password": PASSWORD,  # installed and checked; this node logs in with its certificate
        "iocgw_edge_models": [
            {"path": "fire-smoke/1/model.tflite", "src": str(model), "sha256": model_sha},
            {"path": "fire-smoke/1/copy.tflite", "url": model.as_uri(), "sha256": model_sha},
        ],
        "iocgw_edge_log_to_file": True,
        "iocgw_edge_config": {
            "heartbeat_s": 3600,
            "mqtt": {"host": "localhost", "port": ports["tls"], "reconnect_min_s": 0.1, "reconnect_max_s": 1.0}
            | {"tls": tls("{{ iocgw_edge_tls_dir }}", "node")},
            "outbox": {"confirm_timeout_s": 3.0},
            "sensors": [
                {
                    "id": "wl1",
                    "quantity": "water_level",
                    "interval_s": 0.2,
                    "driver": {"type": "simulated", "model": "constant", "params": {"value": 7.5}},
                }
            ],
        },
    }
    return hub | edge, model_sha


def write_inventory(path: Path, host: dict[str, Any]) -> Path:
    """localhost in both groups, over a local connection with the project's python (interpreter discovery would
    find a broken pyenv shim here), without become (already root, and there is no sudo)."""
    connection = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": False}
    groups = {"hub": {"hosts": {"localhost": None}}, "edge_nodes": {"hosts": {"localhost": None}}}
    inventory = {"all": {"hosts": {"localhost": {**connection, **host}}, "children": groups}}
    path.write_text(yaml.safe_dump(inventory, allow_unicode=True))
    return path


def check_units(root: Path, user: str) -> None:
    node = parse_unit((root / "etc/systemd/system/iocgw-edge.service").read_text())["Service"]
    assert node["User"] == [user] and node["Group"] == [user]
    assert node["Restart"] == ["always"] and int(node["RestartSec"][0]) > 0
    # The node says READY=1 and pings WATCHDOG=1 from its event loop (plumbing/systemd.py): a hung node is restarted.
    assert node["Type"] == ["notify"] and int(node["WatchdogSec"][0]) > 0
    assert node["ProtectSystem"] == ["strict"] and node["NoNewPrivileges"] == ["yes"]
    assert node["ReadWritePaths"] == [str(root / "var/lib/iocgw")]
    hub = parse_unit((root / "etc/systemd/system/iocgw-hub.service").read_text())["Service"]
    assert hub["User"] == [user] and hub["Restart"] == ["always"] and "WatchdogSec" not in hub
    if shutil.which("systemd-analyze"):
        for name in ("iocgw-edge", "iocgw-hub"):
            unit = root / f"etc/systemd/system/{name}.service"
            verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
            assert str(unit) not in verify.stderr, verify.stderr  # bad keys and values are only warnings there


def check_files(root: Path, user: str, model_sha: str, dashboards: Path) -> None:
    uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(user).gr_gid

    def owner_mode(path: str) -> tuple[int, int, int]:
        st = (root / path).stat()
        return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)

    assert owner_mode("etc/iocgw/tls/node.key") == (uid, gid, 0o600)
    assert owner_mode("etc/iocgw/tls/hub.key") == (uid, gid, 0o600)
    assert owner_mode("etc/iocgw/mqtt.password") == (uid, gid, 0o600)
    assert (root / "etc/iocgw/mqtt.password").read_text() == PASSWORD
    assert owner_mode("etc/iocgw/hub.env") == (0, 0, 0o600)
    assert owner_mode("etc/iocgw/node.yaml") == (0, gid, 0o640)
    assert owner_mode("var/lib/iocgw") == (uid, gid, 0o750)
    assert owner_mode("etc/mosquitto/iocgw/certs/server.key")[2] == 0o600
    for name in ("model.tflite", "copy.tflite"):
        data = (root / "var/lib/iocgw/models/fire-smoke/1" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == model_sha
    installed = yaml.safe_load((root / "etc/iocgw/node.yaml").read_text())
    assert installed["node_id"] == NODE_ID and installed["site"]["name"] == "Hồng - Hà Nội (Long Biên)"
    assert installed["data_dir"] == str(root / "var/lib/iocgw")
    assert installed["mqtt"]["tls"]["key_file"] == str(root / "etc/iocgw/tls/node.key")
    assert "copytruncate" in (root / "etc/logrotate.d/iocgw-edge").read_text()
    assert (root / "etc/grafana/provisioning/datasources/iocgw.yaml").exists()
    assert str(dashboards) in (root / "etc/grafana/provisioning/dashboards/iocgw.yaml").read_text()
    assert list(dashboards.glob("*.json")), "no dashboards installed"


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def test_site_deploys_broker_hub_and_node_that_deliver_over_tls(tmp_path, influx, service_user, iocgw_wheel):
    root = tmp_path / "target"
    for base in BASE_SYSTEM:
        (root / base).mkdir(mode=0o755, parents=True)
    ports = {"tls": port_outside_ephemeral_range()}
    ports["http"] = port_outside_ephemeral_range(taken={ports["tls"]})
    pki = provision(tmp_path, root, ports["tls"])
    dashboards = root / "var/lib/grafana/dashboards/iocgw"
    export = ["grafana", "export", "--out", str(tmp_path / "grafana"), "--dashboards-path", str(dashboards)]
    assert iocgw([*export, "--influx-url", influx.url, "--database", DATABASE]) == 0
    host, model_sha = host_vars(tmp_path, root, service_user, iocgw_wheel, pki, ports, influx.url)
    inventory = write_inventory(tmp_path / "inventory.yml", host)
    home = tmp_path / "ansible-home"

    first = run_playbook("site.yml", inventory, home)
    assert first.returncode == 0, first.output[-6000:]
    assert first.counts()["changed"] > 0
    assert PASSWORD not in first.output
    assert DATABASE in {r["name"] for r in query(influx.url, DATABASE, "SHOW DATABASES")}
    check_units(root, service_user)
    check_files(root, service_user, model_sha, dashboards)

    # The broker as the role installed it, then the hub and the node as their units say.
    with open(tmp_path / "mosquitto.log", "ab") as log:
        cmd = ["mosquitto", "-c", str(root / "etc/mosquitto/mosquitto.conf")]
        broker = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    hub = node = None
    try:
        wait_until(lambda: port_open(ports["tls"]), timeout=15, what="Mosquitto's TLS listener")
        hub = start_unit(root / "etc/systemd/system/iocgw-hub.service", tmp_path / "hub.log")
        wait_until(lambda: healthy(ports["http"]), timeout=60, what="the hub connected to the TLS broker")
        node = start_unit(root / "etc/systemd/system/iocgw-edge.service", tmp_path / "edge.log")
        where = f"WHERE node_id = '{NODE_ID}'"
        wait_until(lambda: count(influx.url, DATABASE, "water_level", where) >= 5, what="the node's readings")
        values = {r["value"] for r in query(influx.url, DATABASE, f"SELECT value FROM water_level {where}")}
        assert values == {7.5}, "the readings come from the sensors of the templated config"
    finally:
        for proc, log_name in ((node, "edge.log"), (hub, "hub.log"), (broker, "mosquitto.log")):
            if proc is not None:
                assert stop(proc) == 0, (tmp_path / log_name).read_text()[-3000:]
    assert (root / "var/lib/iocgw/outbox.db").exists()
    assert (root / "var/lib/mosquitto/mosquitto.db").exists(), "Mosquitto's persistence is where the bundle says"

    second = run_playbook("site.yml", inventory, home)
    assert second.returncode == 0, second.output[-6000:]
    assert second.counts()["changed"] == 0, second.output[-6000:]

    # Refusals, each run from the task concerned (--start-at-task) to keep them cheap. A model file whose sha256 is
    # not the one given never replaces the installed one.
    installed_model = root / "var/lib/iocgw/models/fire-smoke/1/model.tflite"
    tampered = tmp_path / "tampered.tflite"
    tampered.write_bytes(b"tampered")
    host["iocgw_edge_models"][0]["src"] = str(tampered)
    bad = run_playbook(
        "edge.yml", write_inventory(tmp_path / "bad-model.yml", host), home, "--start-at-task=Install model files*"
    )
    assert bad.returncode != 0 and bad.counts()["failed"] == 1, bad.output[-6000:]
    assert "failed to validate" in bad.output
    assert hashlib.sha256(installed_model.read_bytes()).hexdigest() == model_sha
    host["iocgw_edge_models"][0]["src"] = str(tmp_path / "fire_smoke.tflite")

    # A broken node config is refused by `iocgw edge validate`; the installed one stays as it was.
    config = root / "etc/iocgw/node.yaml"
    before = config.read_text()
    host["iocgw_edge_config"]["sensors"][0]["interval_s"] = -1
    bad = run_playbook(
        "edge.yml", write_inventory(tmp_path / "bad-config.yml", host), home, "--start-at-task=Install the node config*"
    )
    assert bad.returncode != 0 and bad.counts()["failed"] == 1, bad.output[-6000:]
    assert "failed to validate" in bad.output and "sensors.0.interval_s" in bad.output
    assert config.read_text() == before
