"""Fixtures: a real Mosquitto and a real InfluxDB per test, on free loopback ports in temp dirs."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from testkit.localsvc import InfluxDB, Mosquitto, PostgreSQL
from tests.support.processes import AgentThread, HubProcess
from wire import Reading
from wire.nodeconfig import NodeConfig


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[InfluxDB]:
    db = InfluxDB(tmp_path / "influxdb")
    db.start()
    yield db
    db.kill()


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PostgreSQL]:
    """A PostgreSQL cluster of the test's own (initdb, then the server as the postgres user when root); its dsn."""
    pg = PostgreSQL(tmp_path / "postgresql")
    pg.start()
    yield pg
    pg.kill()


@pytest.fixture(scope="module")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgreSQL]:
    """One PostgreSQL cluster per test module, for tests that each take a schema of their own (``pg_schema``)."""
    pg = PostgreSQL(tmp_path_factory.mktemp("postgresql"))
    pg.start()
    yield pg
    pg.kill()


@pytest.fixture
def pg_schema() -> str:
    """A schema name no other test uses: the tests of one module share a cluster, not their tables."""
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_hub(tmp_path: Path, mosquitto: Mosquitto, influx: InfluxDB) -> Iterator[Callable[..., HubProcess]]:
    hubs: list[HubProcess] = []

    def factory(name: str = "hub-1", **overrides: Any) -> HubProcess:
        config: dict[str, Any] = {
            "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "client_id": f"iocgw-{name}"},
            "influx": {"url": influx.url, "database": "iocgw"},
            "batch": {"max_delay_s": 0.1, "retry_budget_s": 1.0},
            "registry": {"accept_unknown_nodes": True},
        }
        for key, value in overrides.items():
            if isinstance(value, dict):
                config.setdefault(key, {}).update(value)
            else:
                config[key] = value
        hub = HubProcess(tmp_path / name, config)
        hubs.append(hub)
        hub.start()
        return hub

    yield factory
    for hub in hubs:
        hub.kill()


@pytest.fixture
def make_node(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Callable[..., AgentThread]]:
    nodes: list[AgentThread] = []

    def factory(node_id: str = "node-1", **outbox: Any) -> AgentThread:
        config = NodeConfig.model_validate(
            {
                "node_id": node_id,
                "data_dir": str(tmp_path / node_id),
                "heartbeat_s": 3600,
                "mqtt": {"port": mosquitto.port, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0},
                "outbox": {"confirm_timeout_s": 3.0, "synchronous": "NORMAL", **outbox},
            }
        )
        node = AgentThread(config).start()
        nodes.append(node)
        return node

    yield factory
    for node in nodes:
        with contextlib.suppress(Exception):
            node.stop()


# Device time of the first test reading: a UTC midnight in the recent past, wherever the suite runs, because the hub
# refuses readings from the future or older than its maximum age (wire/timepolicy.py).
T0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)


def readings_for(msg_index: int, per_message: int = 5) -> list[Reading]:
    """Deterministic readings: message i carries sensors s0..s4 at T0 + i seconds."""
    ts = T0 + timedelta(seconds=msg_index)
    return [
        Reading(sensor_id=f"s{k}", quantity="water_level", value=round(msg_index * 0.001 + k, 6), unit="m", ts=ts)
        for k in range(per_message)
    ]
