"""A real InfluxDB filled once per test module through the real path (edge agents -> Mosquitto -> hub)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from simulators.sensors.replay import ReplayThread, write_node_configs
from testkit.hubproc import HubProcess
from testkit.localsvc import InfluxDB, Mosquitto
from tests.hub.grafana import sample_data
from tests.support.influx import query
from tests.support.wait import wait_until

DB = "iocgw"


@dataclass(frozen=True)
class FilledInflux:
    url: str
    database: str


def _write(url: str, lines: list[str]) -> None:
    req = urllib.request.Request(f"{url}/write?db={DB}&precision=ms", data="\n".join(lines).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 204


@pytest.fixture(scope="module")
def filled_influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FilledInflux]:
    root = tmp_path_factory.mktemp("grafana-data")
    influx, broker = InfluxDB(root / "influxdb"), Mosquitto(root / "mosquitto")
    influx.start()
    broker.start()
    hub = None
    try:
        replays = sample_data.replays(broker.port, root / "outboxes")
        typhoon = replays[0]
        for r in replays:
            write_node_configs(r.configs, root / "nodes")
        hub = HubProcess(
            root / "hub",
            {
                "mqtt": {"host": "127.0.0.1", "port": broker.port, "client_id": "iocgw-grafana-tests"},
                "influx": {"url": influx.url, "database": DB},
                "batch": {"max_delay_s": 0.1, "retry_budget_s": 1.0},
                "registry": {"seed_files": [str(root / "nodes" / "*.yaml")], "accept_unknown_nodes": True},
                "alerts": sample_data.alerts_config(typhoon, root),
            },
        )
        hub.start()
        for r in replays:
            runner = ReplayThread(r, drain_timeout_s=120).start()
            try:
                summary = runner.join(240)
            finally:
                runner.stop()
            assert not summary["stopped_early"]
        # Every replayed reading is stored once its node has the hub's confirmation; the engine's points go in
        # the same batches. Waiting on the last measurement of each kind makes that explicit.
        for measurement in ("flood_level", "reservoir_state", "fire_danger", "camera_event"):
            wait_until(lambda m=measurement: _points(influx.url, m) > 0, timeout=30, what=f"{measurement} points")
        camera = next(c for c in replays[2].configs if c.node_id.startswith("cam-"))
        lines = sample_data.camera_health_points(camera.node_id, camera.site.admin_code or "", sample_data.DRY_START)
        lines += sample_data.feeds_points()
        lines += sample_data.forecast_points(
            [s.station_id for s in sample_data.flood_stations(typhoon)], ["reservoir-001"]
        )
        lines += sample_data.completeness_points(influx.url, DB, replays)
        lines += sample_data.flagged_points("river-kimlong-01", "46", sample_data.TYPHOON_START + timedelta(days=1))
        _write(influx.url, lines)
        yield FilledInflux(influx.url, DB)
    finally:
        if hub is not None:
            hub.kill()
        broker.kill()
        influx.kill()


def _points(url: str, measurement: str) -> int:
    rows = query(url, DB, f'SELECT count(*) FROM "{measurement}"')
    return max((int(v) for r in rows for k, v in r.items() if k.startswith("count_") and v), default=0)
