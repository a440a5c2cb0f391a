"""Test helpers for the operator API: tokens per role, a small HTTP client, the API served from a thread."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from hub.alerts.config import AlertsConfig, load_rule_tables
from hub.alerts.engine import AlertEngine
from hub.alerts.evaluate.base import Observation
from hub.alerts.store import AlertStore
from hub.alerts.threshold_overrides import RuleManager, ThresholdStore
from hub.api.app import make_app
from hub.api.auth import ApiSettings, Role, hash_token
from hub.metrics import Metrics
from hub.store.state import HubState

# One token per role; the names are what the audit trail and acknowledgements record.
TOKENS = {role: f"test-token-{role.value}-0123456789abcdef" for role in Role}
NAMES = {role: f"{role.value}-1" for role in Role}


def api_section() -> dict[str, Any]:
    """The hub config's ``api`` section for TOKENS."""
    return {"tokens": [{"name": NAMES[r], "role": r.value, "token_sha256": hash_token(TOKENS[r])} for r in Role]}


STATION = {
    "station_id": "hong-long-bien",
    "node_id": "river-longbien-01",
    "sensor_id": "stage",
    "river": "Hồng",
    "name": "Hà Nội (Long Biên)",
    "province": "Hà Nội",
    "bd1_m": 9.5,
    "bd2_m": 10.5,
    "bd3_m": 11.5,
    "source": "QĐ 05/2020/QĐ-TTg",
    "zone": 3,
}
RESERVOIR = {
    "reservoir_id": "reservoir-001",
    "name": "Hồ chứa minh hoạ",
    "province": "Hà Tĩnh",
    "node_id": "reservoir-001",
    "source": "illustrative",
    "dead_level_m": 18.0,
    "pre_flood_level_m": 29.0,
    "normal_level_m": 32.5,
    "design_flood_level_m": 34.2,
    "check_flood_level_m": 35.1,
}


def write_rules(directory: Path) -> dict[str, Any]:
    """Flood and reservoir tables in ``directory``; returns the hub config's ``alerts`` section."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "flood.yaml").write_text(yaml.safe_dump({"stations": [STATION]}, allow_unicode=True), "utf-8")
    (directory / "reservoirs.yaml").write_text(yaml.safe_dump({"reservoirs": [RESERVOIR]}, allow_unicode=True), "utf-8")
    return {
        "flood_stations": str(directory / "flood.yaml"),
        "reservoirs": str(directory / "reservoirs.yaml"),
        "freshness": {"enabled": False},
    }


def seed_nodes(directory: Path) -> dict[str, Any]:
    """A node config that puts Long Biên's gauge in Hà Nội (GSO 01); returns the hub config's ``registry``."""
    directory.mkdir(parents=True, exist_ok=True)
    node = {"node_id": "river-longbien-01", "site": {"name": "Trạm Long Biên", "admin_code": "01"}}
    (directory / "river-longbien-01.yaml").write_text(yaml.safe_dump(node, allow_unicode=True), "utf-8")
    return {"seed_files": [str(directory / "*.yaml")]}


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


STREAMS = ("text/event-stream", "multipart/x-mixed-replace")


class Client:
    """urllib, so tests read like the curl examples in docs/api.md."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.token = token

    def as_(self, role: Role | None) -> Client:
        return Client(self.base, TOKENS[role] if role is not None else None)

    def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token is not None:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, headers = resp.status, dict(resp.headers)
                # A stream (server-sent events, a live MJPEG view) never ends: its status and headers are the answer.
                streaming = headers.get("Content-Type", "").startswith(STREAMS)
                payload = b"" if streaming else resp.read()
        except urllib.error.HTTPError as exc:
            status, payload, headers = exc.code, exc.read(), dict(exc.headers)
        text = payload.decode("utf-8")
        is_json = headers.get("Content-Type", "").startswith("application/json")
        return Reply(status, json.loads(text) if is_json and text else text, headers)

    def get(self, path: str) -> Reply:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None) -> Reply:
        return self.call("POST", path, body)

    def put(self, path: str, body: Any) -> Reply:
        return self.call("PUT", path, body)


class ServerThread:
    """An aiohttp app on a free loopback port, on an event loop of its own thread."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]  # aiohttp's public list of bound addresses

    def start(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(10), "API server did not start"
        return self

    def stop(self) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class Pipeline:
    """Stands in for the ingest pipeline: only /healthz asks it anything."""

    def health(self) -> dict[str, object]:
        return {
            "mqtt_connected": True,
            "spool_batches": 0,
            "spool_lines": 0,
            "last_flush_age_s": 0.0,
            "last_error": None,
        }


class LocalHub:
    """The engine, stores and rule manager wired as hub.service wires them, with the API served from a thread."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        auth: ApiSettings | None = None,
        alerts: bool = True,
        app_options: dict[str, Any] | None = None,
    ) -> None:
        """``app_options``: more of make_app's keywords (console=, influx=, ...) for the views that need them."""
        self.dir = tmp_path
        data = tmp_path / "data"
        self.state = HubState(data / "hub.db")
        self.state.register([])
        self.engine: AlertEngine | None = None
        self.rules: RuleManager | None = None
        self.alert_store: AlertStore | None = None
        if alerts:
            self.config = AlertsConfig.model_validate(write_rules(tmp_path / "rules"))
            self.rules = RuleManager(lambda: load_rule_tables(self.config), ThresholdStore(data / "alerts.db"))
            self.engine = AlertEngine(
                self.config,
                self.rules.current,
                AlertStore(data / "alerts.db"),
                areas={"river-longbien-01": "01", "reservoir-001": "42"},
                intervals={},
            )
            self.rules.bind(self.engine.load)
            self.alert_store = AlertStore(data / "alerts.db")
        app = make_app(
            Pipeline(),
            Metrics(),
            self.state,
            300.0,
            engine=self.engine,
            alerts=self.alert_store,
            rules=self.rules,
            auth=auth,
            **(app_options or {}),
        )
        self.server = ServerThread(app).start()
        self.base = f"http://127.0.0.1:{self.server.port}"

    def client(self, role: Role | None = None) -> Client:
        return Client(self.base).as_(role)

    def stage(self, value: float, ts: datetime | None = None) -> None:
        """A water-level reading at Long Biên, straight into the engine (the ingest path is tested elsewhere)."""
        assert self.engine is not None
        when = ts or datetime.now(UTC)
        self.engine.process([Observation("river-longbien-01", "stage", "water_level", when, value)], now=when)

    def close(self) -> None:
        self.server.stop()
        self.state.close()
        if self.engine is not None and self.rules is not None and self.alert_store is not None:
            self.engine.store.close()
            self.rules.store.close()
            self.alert_store.close()
