"""The hub's concurrency story (docs/concurrency.md): its constructor does no I/O, and no SQLite store, engine or
file call runs on its event loop, checked on a real hub under a burst of API requests in asyncio debug mode."""

from __future__ import annotations

import asyncio
import functools
import pathlib
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.alerts.engine import AlertEngine
from hub.alerts.evaluate.base import Observation
from hub.alerts.notify.delivery_queue import SqliteQueue
from hub.alerts.notify.dispatcher import Dispatcher
from hub.alerts.store import AlertStore
from hub.alerts.threshold_overrides import RuleManager, ThresholdStore
from hub.api.auth import Role
from hub.config import HubConfig
from hub.service import Hub
from hub.store.desired import DesiredConfigs
from hub.store.state import HubState
from tests.hub.alerts.notify.stubs import HttpStub
from tests.hub.api.support import TOKENS, api_section, seed_nodes, write_rules

T0 = datetime(2026, 9, 10, 6, 0, tzinfo=UTC)
BLOCKING = (HubState, AlertStore, ThresholdStore, DesiredConfigs, AlertEngine, RuleManager)


def hub_config(tmp_path: Path, mqtt_port: int, influx_url: str, hook_url: str) -> HubConfig:
    return HubConfig.model_validate(
        {
            "data_dir": str(tmp_path / "data" / "hub"),  # not there yet: only start() may make it
            "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "client_id": "iocgw-hub-concurrency"},
            "influx": {"url": influx_url, "database": "iocgw"},
            "batch": {"max_delay_s": 0.1, "retry_budget_s": 1.0},
            "registry": seed_nodes(tmp_path / "nodes"),
            "http": {"host": "127.0.0.1", "port": 0},
            "alerts": write_rules(tmp_path / "rules"),
            "api": api_section(),
            "notify": {
                "targets": [{"type": "webhook", "name": "ops", "url": hook_url, "secret": {"env": "IOCGW_TEST_HOOK"}}],
                "routes": [{"targets": ["ops"]}],
            },
        }
    )


def test_constructing_the_hub_opens_no_file_port_or_thread(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("IOCGW_TEST_HOOK", "s3cret")
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    config = hub_config(tmp_path, 1, "http://127.0.0.1:9", "http://127.0.0.1:9/hook")
    config = config.model_copy(update={"http": config.http.model_copy(update={"port": port})})
    threads = threading.active_count()
    hub = Hub(config, config_dir=tmp_path)
    assert not (tmp_path / "data").exists()
    assert threading.active_count() == threads
    socket.create_server(("127.0.0.1", port)).close()  # the port is still free: start() binds it
    assert hub.engine is None and hub.dispatcher is None and hub.http_port is None
    Dispatcher(config.notify, tmp_path / "notify" / "notify.db")  # type: ignore[arg-type]
    assert not (tmp_path / "notify").exists()  # the queue opens on first use


class LoopWatch:
    """Wraps blocking methods to record each call made on a thread that is running an event loop."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.on_loop: list[str] = []
        self.calls = 0
        for cls in BLOCKING:
            for name, member in list(vars(cls).items()):
                if name.startswith("__") or not callable(member) or isinstance(member, staticmethod | classmethod):
                    continue
                monkeypatch.setattr(cls, name, self._guard(f"{cls.__name__}.{name}", member))
        # The notification queue's statements, wherever they are issued from (the dispatcher's workers, submit).
        monkeypatch.setattr(SqliteQueue, "_database", self._guard("SqliteQueue._database", SqliteQueue._database))
        for name in ("read_bytes", "read_text"):
            monkeypatch.setattr(pathlib.Path, name, self._guard(f"Path.{name}", getattr(pathlib.Path, name)))

    def _guard(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                pass  # a thread without a loop: the writer, paho's, a to_thread worker, the API's store thread
            else:
                self.on_loop.append(label)
            return fn(*args, **kwargs)

        return call


async def burst(base: str, alarm_id: str, extra: tuple[str, ...] = ()) -> list[int]:
    """What an operator page and a few scripts do at once: every read route, an acknowledgement, a release."""
    headers = {role: {"Authorization": f"Bearer {TOKENS[role]}"} for role in Role}
    reads = [
        "/healthz",
        "/metrics",
        "/",
        "/web/app.js",
        "/api/whoami",
        "/api/nodes",
        "/api/dead-letters?limit=10",
        "/api/alerts",
        "/api/alerts?active=true&severity=warning",
        f"/api/alerts/{alarm_id}",
        "/api/snapshots/river-longbien-01/cam1/fire",
        "/api/thresholds",
        "/api/thresholds/flood/hong-long-bien",
        "/api/thresholds/audit",
        *extra,
    ]
    async with aiohttp.ClientSession(base) as session:

        async def call(method: str, path: str, role: Role, body: Any = None) -> int:
            async with session.request(method, path, headers=headers[role], json=body) as resp:
                await resp.read()
                return resp.status

        calls = [call("GET", path, Role.VIEWER) for _ in range(5) for path in reads]
        calls.append(call("POST", f"/api/alerts/{alarm_id}/ack", Role.OFFICER, {"comment": "đã báo"}))
        release = {"planned_open": T0.isoformat(), "comment": "lệnh vận hành"}
        calls.append(call("PUT", "/api/reservoirs/reservoir-001/release", Role.HYDROLOGY, release))
        return await asyncio.gather(*calls)


def run_burst(tmp_path: Path, mosquitto: Any, influx: Any, extra: tuple[str, ...] = ()) -> list[int]:
    """A real hub (broker, InfluxDB, a webhook target) in asyncio debug mode, a flood alarm, then the burst."""

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        assert loop.get_debug()  # also makes call_soon from a foreign thread raise instead of racing
        hook = await HttpStub().start()
        config = hub_config(tmp_path, mosquitto.port, influx.url, hook.url())
        hub = Hub(config, config_dir=tmp_path)
        assert not (tmp_path / "data").exists()
        await hub.start()
        try:
            assert (tmp_path / "data" / "hub" / "hub.db").exists()
            assert hub.engine is not None
            reading = Observation("river-longbien-01", "stage", "water_level", T0, 9.7)  # BĐ1: a flood alarm
            await asyncio.to_thread(hub.engine.process, [reading], now=T0)
            [flood] = [a for a in await asyncio.to_thread(hub.engine.active) if a.rule == "flood_level"]
            statuses = await burst(f"http://127.0.0.1:{hub.http_port}", flood.id, extra)
            await hook.next_request(timeout=10)  # the alarm went out through the dispatcher's workers
        finally:
            await hub.stop()
            await hook.stop()
        return statuses

    return asyncio.run(main(), debug=True)


def test_no_store_engine_or_file_call_runs_on_the_event_loop(tmp_path: Path, monkeypatch, mosquitto, influx):
    monkeypatch.setenv("IOCGW_TEST_HOOK", "s3cret")
    watch = LoopWatch(monkeypatch)
    statuses = run_burst(tmp_path, mosquitto, influx)
    *reads, ack, release = statuses
    assert set(reads) <= {200, 404} and reads.count(404) == 5, reads  # 404: the snapshot no camera has sent
    assert ack == 200
    assert release == 404  # the test's reservoir has no release procedure; the engine was asked all the same
    assert watch.calls > 0
    assert watch.on_loop == []


def test_node_config_routes_do_not_block_the_loop(tmp_path: Path, monkeypatch, mosquitto, influx):
    monkeypatch.setenv("IOCGW_TEST_HOOK", "s3cret")
    watch = LoopWatch(monkeypatch)
    run_burst(tmp_path, mosquitto, influx, ("/api/nodes/river-longbien-01/config", "/models/fire/1/model.xml"))
    assert watch.on_loop == []


def test_a_taken_port_stops_start_before_any_file_is_made(tmp_path: Path, monkeypatch):
    from hub.service import HubStartError

    monkeypatch.setenv("IOCGW_TEST_HOOK", "s3cret")
    taken = socket.create_server(("127.0.0.1", 0))
    config = hub_config(tmp_path, 1, "http://127.0.0.1:9", "http://127.0.0.1:9/hook")
    config = config.model_copy(update={"http": config.http.model_copy(update={"port": taken.getsockname()[1]})})
    try:
        with pytest.raises(HubStartError, match="cannot listen on http"):
            asyncio.run(Hub(config).start())
    finally:
        taken.close()
    assert not (tmp_path / "data").exists()
