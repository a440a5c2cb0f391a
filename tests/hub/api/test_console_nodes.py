"""The technician's node view (docs/console-nodes.md): GET /api/nodes and /api/nodes/<id> from what real nodes report
(an edge agent, statuses over MQTT to a real hub), the kept error history, and the view in headless Chromium."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.publish as mqtt_publish
import pytest
import yaml

from hub.api.auth import Role
from hub.store.state import ERRORS_KEPT_PER_NODE, HubState
from plumbing.version import __version__
from testkit.browser import CHROMIUM, MISSING, chromium_page
from testkit.localsvc import free_port
from tests.hub.api.support import TOKENS, Client, api_section
from tests.support.processes import AgentThread
from tests.support.wait import wait_until
from wire import ConfigMessage, Topics
from wire.nodeconfig import NodeConfig

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

HUE = "46"  # Thành phố Huế in the GSO table the hub ships


def seed(directory: Path, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Node config files for the hub's registry (the files nodes run on); returns the hub config's ``registry``."""
    directory.mkdir(parents=True, exist_ok=True)
    for node in nodes:
        (directory / f"{node['node_id']}.yaml").write_text(yaml.safe_dump(node, allow_unicode=True), "utf-8")
    return {"seed_files": [str(directory / "*.yaml")]}


def battery_sensor(volts: float, interval_s: float = 60) -> dict[str, Any]:
    driver = {"type": "simulated", "model": "constant", "params": {"value": volts}}
    return {"id": "batt", "quantity": "battery_voltage", "interval_s": interval_s, "driver": driver}


class Publisher:
    """Statuses and telemetry as a node sends them (QoS 1: returns once the broker has each)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seq: dict[str, int] = {}
        self.topics = Topics("iocgw")

    def _next(self, node: str) -> dict[str, Any]:
        self.seq[node] = self.seq.get(node, 0) + 1
        return {"v": 1, "node_id": node, "seq": self.seq[node], "ts": datetime.now(UTC).isoformat()}

    def status(self, node: str, state: str = "online", **fields: Any) -> int:
        msg = {**self._next(node), "channel": "status", "state": state, **fields}
        mqtt_publish.single(self.topics.status(node), json.dumps(msg), qos=1, hostname="127.0.0.1", port=self.port)
        return int(msg["seq"])

    def battery(self, node: str, volts: float) -> None:
        reading = {"sensor_id": "batt", "quantity": "battery_voltage", "value": volts, "unit": "V"}
        msg = {**self._next(node), "channel": "telemetry", "readings": [reading]}
        mqtt_publish.single(self.topics.telemetry(node), json.dumps(msg), qos=1, hostname="127.0.0.1", port=self.port)

    def raw(self, topic: str, payload: bytes) -> None:
        mqtt_publish.single(topic, payload, qos=1, hostname="127.0.0.1", port=self.port)


def by_id(client: Client) -> dict[str, dict[str, Any]]:
    return {n["node_id"]: n for n in client.get("/api/nodes").body["nodes"]}


def status_seq(client: Client, node: str) -> int | None:
    return ((by_id(client).get(node) or {}).get("last_status") or {}).get("seq")


# -- the kept errors ---------------------------------------------------------------------------------------------
def test_error_history_is_distinct_bounded_and_durable(tmp_path):
    state = HubState(tmp_path / "hub.db")

    def report(node: str, error: str | None, at: float) -> None:
        status = json.dumps({"state": "online", **({"last_error": error} if error else {})})
        state.persist(
            dead_letters=[], seen={node: at}, statuses={node: ("online", status)}, sensor_values={}, dedupe={}
        )

    report("n1", "modem: no carrier", 100.0)
    report("n1", "modem: no carrier", 130.0)  # the same fault again: one entry, reported twice
    report("n1", None, 160.0)  # cleared: nothing new to keep
    for i in range(ERRORS_KEPT_PER_NODE + 2):
        report("n1", f"sensor s{i}: timeout", 200.0 + i)
    report("n1", "sensor s3: timeout", 300.0)  # an older one comes back: it is kept as the most recent
    report("n2", "disk full", 50.0)
    state.close()

    state = HubState(tmp_path / "hub.db")  # kept across a restart: in the hub's SQLite file
    errors = state.node_errors("n1")
    assert len(errors) == ERRORS_KEPT_PER_NODE
    assert [e["error"] for e in errors] == [f"sensor s{i}: timeout" for i in (3, 6, 5, 4, 2)]
    assert errors[0] == {"error": "sensor s3: timeout", "first_reported": 203.0, "last_reported": 300.0, "reports": 2}
    assert "modem: no carrier" not in {e["error"] for e in errors}, "the oldest went beyond the bound"
    assert [e["error"] for e in state.node_errors("n2")] == ["disk full"], "each node has its own"
    state.close()


def test_link_states_and_a_missing_node(local_hub):
    now = time.time()
    statuses = {
        "gone": ("offline", json.dumps({"state": "offline"})),
        "quiet": ("online", json.dumps({"state": "online"})),
        "up": ("online", json.dumps({"state": "online"})),
    }
    seen = {"gone": now, "quiet": now - 3600, "up": now}
    local_hub.state.persist(dead_letters=[], seen=seen, statuses=statuses, sensor_values={}, dedupe={})
    viewer = local_hub.client(Role.VIEWER)
    nodes = by_id(viewer)
    assert {k: n["link"] for k, n in nodes.items()} == {"gone": "offline", "quiet": "silent", "up": "online"}
    assert [n["dropping"] for n in nodes.values()] == [False, False, False]
    assert 3590 < nodes["quiet"]["last_seen_ago_s"] < 3700
    assert viewer.get("/api/nodes/nobody").status == 404
    assert viewer.get("/api/nodes/up").body["errors"] == []

    # The outbox's dropped count is since the outbox was made: only one that grew lately says it is dropping now.
    def dropped(count: int, at: float) -> None:
        status = json.dumps({"state": "online", "outbox_dropped": count})
        local_hub.state.persist(
            dead_letters=[], seen={"up": at}, statuses={"up": ("online", status)}, sensor_values={}, dedupe={}
        )

    dropped(0, now - 3 * 86400)
    dropped(2, now - 2 * 86400)
    dropped(2, now)
    up = by_id(viewer)["up"]
    assert up["last_drop_at"] == now - 2 * 86400 and up["dropping"] is False
    assert up["problems"] == ["outbox dropped 2 messages"], "as before: the count is still shown"
    dropped(5, now)
    up = by_id(viewer)["up"]
    assert up["last_drop_at"] == now and up["dropping"] is True


# -- what real nodes report --------------------------------------------------------------------------------------
def test_a_real_node_as_the_technician_sees_it(tmp_path, make_hub, mosquitto):
    """An edge agent with a battery sensor and a stage sensor whose logger does not answer (nothing listens on its
    port): its status, battery, errors and a refused configuration, through a real hub."""
    stage = {
        "id": "stage",
        "quantity": "water_level",
        "interval_s": 0.2,
        "driver": {"type": "modbus_tcp", "host": "127.0.0.1", "port": free_port(), "address": 0, "timeout_s": 1},
    }
    config = {
        "node_id": "hue-kimlong-01",
        "site": {"name": "Trạm Kim Long", "admin_code": HUE},
        "data_dir": str(tmp_path / "node"),
        "heartbeat_s": 0.3,
        "mqtt": {"port": mosquitto.port, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0},
        "outbox": {"confirm_timeout_s": 3.0, "synchronous": "NORMAL"},
        "sensors": [battery_sensor(12.6, interval_s=0.2), stage],
    }
    hub = make_hub(api=api_section(), registry=seed(tmp_path / "nodes", [config]))
    viewer = Client(f"http://127.0.0.1:{hub.http_port}").as_(Role.VIEWER)
    agent = AgentThread(NodeConfig.model_validate(config)).start()
    try:

        def reported() -> dict[str, Any] | None:
            node = by_id(viewer)["hue-kimlong-01"]
            return node if node["battery"] and node["latest_error"] else None

        node = wait_until(reported, what="battery and the stage sensor's error")
        assert node["name"] == "Trạm Kim Long" and node["area_name"] == "Thành phố Huế"
        assert node["link"] == "online" and node["online"] is True and node["health"] == "degraded"
        assert 0 <= node["last_seen_ago_s"] < 30
        battery = node["battery"]
        assert battery["sensor_id"] == "batt" and battery["volts"] == 12.6 and abs(battery["at"] - time.time()) < 60
        status = node["last_status"]
        assert status["software"] == f"iocgw {__version__}"
        assert status["disk_free_bytes"] > 0 and status["uptime_s"] >= 0 and status["outbox_depth"] >= 0
        assert status["outbox_dropped"] == 0 and node["cameras"] == []
        latest = node["latest_error"]
        assert latest["error"].startswith("sensor stage:") and latest["current"] is True
        assert latest["error"] == status["last_error"]

        # A configuration the node refuses (sent straight to the broker, as a hub of another version might): the
        # node says why in its status and keeps running on the old one.
        bad = ConfigMessage(
            node_id="hue-kimlong-01", ts=datetime.now(UTC), version="v3", config={"node_id": "x", "sensors": 5}
        )
        mqtt_publish.single(
            Topics("iocgw").config("hue-kimlong-01"),
            bad.model_dump_json(),
            qos=1,
            hostname="127.0.0.1",
            port=mosquitto.port,
        )
        refused = wait_until(
            lambda: (by_id(viewer)["hue-kimlong-01"]["last_status"] or {}).get("config_error"), what="refusal"
        )
        assert refused.startswith("config v3")
    finally:
        agent.stop()

    stopped = wait_until(
        lambda: (n := by_id(viewer)["hue-kimlong-01"])["link"] == "stopped" and n, what="the node's goodbye"
    )
    assert stopped["online"] is False
    detail = viewer.get("/api/nodes/hue-kimlong-01").body
    [error] = detail["errors"]  # one fault, reported by every heartbeat
    assert error["error"].startswith("sensor stage:") and error["reports"] >= 2
    assert error["first_reported"] < error["last_reported"]
    assert detail["dead_letters"] == []


def test_statuses_over_mqtt_cameras_errors_and_dead_letters(tmp_path, make_hub, mosquitto):
    hub = make_hub(api=api_section())
    viewer = Client(f"http://127.0.0.1:{hub.http_port}").as_(Role.VIEWER)
    send = Publisher(mosquitto.port)

    def landed(node: str, seq: int) -> None:
        wait_until(lambda: status_seq(viewer, node) == seq, what=f"{node}'s status {seq}")

    cameras = {
        "cam.thap-1.fps": 4.8,
        "cam.thap-1.infer_ms": 85.2,
        "cam.thap-1.connected": 1.0,
        "cam.thap-1.reconnects": 2.0,
        "cam.cong.chinh.fps": 0.0,  # a camera id may hold dots
        "cam.cong.chinh.connected": 0.0,
        "camera_fps": 0.0,
        "read_errors": 3.0,
    }
    # One status per batch: the hub keeps each batch's latest status per node, as a node sends one per heartbeat.
    errors = ["modem: no carrier"] + [f"camera cong.chinh: stream lost ({i})" for i in range(6)]
    for error in [*errors, errors[2]]:
        landed("cam-node-1", send.status("cam-node-1", last_error=error, outbox_dropped=4, extra=cameras))
    send.raw("iocgw/v1/cam-node-1/telemetry", b"{not json")
    send.raw("iocgw/v1/other-node/telemetry", b"{not json either")
    wait_until(lambda: viewer.get("/api/dead-letters").body["count"] >= 2, what="dead letters")

    node = viewer.get("/api/nodes/cam-node-1").body
    assert node["cameras"] == [
        {"camera": "cong.chinh", "fps": 0.0, "infer_ms": None, "connected": False, "reconnects": None, "errors": None},
        {"camera": "thap-1", "fps": 4.8, "infer_ms": 85.2, "connected": True, "reconnects": 2.0, "errors": None},
    ]
    kept = [e["error"] for e in node["errors"]]
    assert kept == [errors[2], errors[6], errors[5], errors[4], errors[3]], "the last 5 distinct, newest first"
    assert [e["current"] for e in node["errors"]] == [True, False, False, False, False]
    assert node["errors"][0]["reports"] == 2 and node["latest_error"] == node["errors"][0]
    assert node["problems"] == [f"last error: {errors[2]}", "outbox dropped 4 messages"]
    # Dated when the hub first saw the count, not moved by the statuses that repeat it.
    assert node["dropping"] is True and node["last_drop_at"] < node["errors"][1]["first_reported"]
    brief = {n["node_id"]: n for n in viewer.get("/api/nodes?brief=true").body["nodes"]}["cam-node-1"]
    assert "extra" not in brief["last_status"] and brief["last_status"]["last_error"] == errors[2]
    assert brief["cameras"] == node["cameras"] and "extra" in by_id(viewer)["cam-node-1"]["last_status"]
    assert viewer.get("/api/nodes?brief=maybe").status == 422
    [letter] = node["dead_letters"]
    assert letter["topic"] == "iocgw/v1/cam-node-1/telemetry" and letter["payload_size"] == len(b"{not json")

    hub.stop()  # the history is the hub's, not the process's
    hub.start()
    assert viewer.get("/api/nodes/cam-node-1").body["errors"] == node["errors"]


# -- the view in a browser ---------------------------------------------------------------------------------------
FLEET = {
    "hue-off-01": "Trạm Thuận An",
    "hue-err-01": "Trạm Phú Hội",
    "hue-drop-01": "Trạm Vỹ Dạ",
    "hue-stop-01": "Trạm Hương Thủy",
    "hue-never-01": "Trạm Hương Trà",
    "cam-node-1": "Chòi canh Bạch Mã",
    "hue-ok-01": "Trạm Kim Long",
}
# Lost first, then errors, dropping, stopped, never seen; the healthy by name.
ORDER = ["hue-off-01", "hue-err-01", "hue-drop-01", "hue-stop-01", "hue-never-01", "cam-node-1", "hue-ok-01"]


def feed_fleet(send: Publisher, viewer: Client) -> None:
    def landed(node: str, seq: int) -> None:
        wait_until(lambda: status_seq(viewer, node) == seq, what=f"{node}'s status {seq}")

    common = {"software": "iocgw 1.4.0", "uptime_s": 93784.0, "disk_free_bytes": 5 * 1024**3, "outbox_depth": 0}
    landed("hue-ok-01", send.status("hue-ok-01", **common))
    send.battery("hue-ok-01", 12.6)
    landed("hue-off-01", send.status("hue-off-01", "offline"))
    landed("hue-stop-01", send.status("hue-stop-01", "stopped", **common))
    landed("hue-drop-01", send.status("hue-drop-01", **{**common, "outbox_depth": 120, "outbox_dropped": 3}))
    landed("hue-err-01", send.status("hue-err-01", **common, last_error="SD card: read-only"))
    refused = "config v8 refused: sensors.0.interval_s: Input should be greater than 0"
    landed(
        "hue-err-01",
        send.status(
            "hue-err-01",
            **common,
            last_error="RS-485: no reply from logger",
            config_version="v7",
            config_error=refused,
            models={"fire": "3"},
        ),
    )
    cameras = {"cam.thap-1.fps": 4.8, "cam.thap-1.infer_ms": 85.0, "cam.thap-1.connected": 1.0}
    landed("cam-node-1", send.status("cam-node-1", **common, extra=cameras))
    send.raw("iocgw/v1/hue-err-01/telemetry", b"{not json")
    wait_until(lambda: by_id(viewer)["hue-ok-01"]["battery"], what="the battery reading")
    wait_until(lambda: viewer.get("/api/nodes/hue-err-01").body["dead_letters"], what="the dead letter")


def sign_in(page: Page) -> None:
    """The sign-in form, unless the browser is signed in already (a session kept by the context)."""
    page.locator("#login:visible, #who:visible").first.wait_for()
    if page.locator("#login").is_visible():
        page.fill("#token", TOKENS[Role.VIEWER])
        page.click("#login-form button")
    page.locator("#who-name:visible").wait_for()


@pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)
def test_the_view_in_chromium(tmp_path, make_hub, mosquitto):
    from playwright.sync_api import expect

    fleet = [
        {"node_id": node, "site": {"name": name, "admin_code": HUE}, "sensors": [battery_sensor(12.0)]}
        for node, name in FLEET.items()
    ]
    hub = make_hub(api=api_section(), registry=seed(tmp_path / "nodes", fleet))
    base = f"http://127.0.0.1:{hub.http_port}"
    feed_fleet(Publisher(mosquitto.port), Client(base).as_(Role.VIEWER))

    with chromium_page(tmp_path / "chromium-profile") as (page, problems):
        page.goto(f"{base}/?refresh_ms=300#nodes")
        sign_in(page)

        rows = page.locator("#nodes tbody tr")
        expect(rows).to_have_count(len(ORDER))
        assert rows.evaluate_all("rs => rs.map(r => r.dataset.nodeId)") == ORDER

        def row(node: str) -> Locator:
            return page.locator(f'#nodes tbody tr[data-node-id="{node}"]')

        expect(row("hue-off-01").locator(".node-link-state")).to_have_text("Mất kết nối")
        expect(row("hue-stop-01").locator(".node-link-state")).to_have_text("Đã dừng")
        expect(row("hue-never-01").locator(".node-link-state")).to_have_text("Chưa từng kết nối")
        expect(row("hue-never-01").locator(".node-seen")).to_have_text("Chưa nhận tin nào")
        expect(row("hue-err-01").locator(".node-link-state")).to_have_text("Trực tuyếnĐang báo lỗi")
        expect(row("hue-err-01").locator(".node-errors")).to_contain_text("RS-485: no reply from logger")
        expect(row("hue-err-01").locator(".node-errors")).to_contain_text("Cấu hình bị từ chối: config v8")
        expect(row("hue-drop-01").locator(".node-link-state")).to_contain_text("Bỏ tin trong 24 giờ qua")
        expect(row("hue-drop-01").locator(".node-queue")).to_have_text("120 chờ gửi3 tin bị bỏ")
        ok = row("hue-ok-01")
        expect(ok.locator(".node-name")).to_have_text("Trạm Kim Longhue-ok-01")
        expect(ok.locator("td").nth(1)).to_have_text("Thành phố Huế")
        expect(ok.locator(".node-link-state")).to_have_text("Trực tuyến")
        # Seconds ago, in words: "vừa xong" under 10 s, then "12 giây trước" (a loaded machine may take that long to
        # get here after the status; a fixed "vừa xong" failed then).
        expect(ok.locator(".node-seen")).to_have_text(re.compile(r"^(vừa xong|[1-5]?\d giây trước)$"))
        assert ok.locator(".node-seen").get_attribute("title"), "the time itself, on hover"
        expect(ok.locator(".node-battery")).to_have_text("12,6 V")
        expect(ok.locator(".node-version")).to_have_text("iocgw 1.4.0")
        expect(row("cam-node-1").locator(".node-cameras")).to_have_text("thap-1 · 4,8 khung/giây · suy luận 85 ms")
        expect(page.locator("#status")).to_contain_text("7 thiết bị · 5 cần chú ý")

        # The filter finds a station by its name without marks; the rest are hidden, not removed.
        page.fill("#node-filter", "vy da")
        expect(page.locator("#nodes tbody tr:visible")).to_have_count(1)
        expect(page.locator("#nodes tbody tr:visible")).to_have_attribute("data-node-id", "hue-drop-01")
        page.fill("#node-filter", "")
        expect(page.locator("#nodes tbody tr:visible")).to_have_count(len(ORDER))

        # A node's link opens its panel, and the address can be shared.
        row("hue-err-01").locator("a.node-link").click()
        expect(page).to_have_url(f"{base}/?refresh_ms=300#nodes/hue-err-01")
        panel = page.locator("#node-detail")
        expect(panel.locator("h3")).to_have_text("Trạm Phú Hội (hue-err-01)")
        history = panel.locator(".node-error-table tbody tr")
        expect(history).to_have_count(2)
        expect(history.nth(0)).to_contain_text("RS-485: no reply from logger")
        expect(history.nth(0)).to_contain_text("Đang báo")
        expect(history.nth(1)).to_contain_text("SD card: read-only")
        expect(history.nth(1)).to_contain_text("Đã hết")
        expect(panel.locator(".node-letters")).to_contain_text("iocgw/v1/hue-err-01/telemetry")
        expect(panel.locator(".node-models")).to_contain_text("fire3")
        expect(panel.locator(".node-facts")).to_contain_text("Phiên bản cấu hìnhv7")
        expect(panel.locator(".node-facts")).to_contain_text("Cấu hình mới bị từ chốiconfig v8 refused")
        expect(panel.locator(".node-facts")).to_contain_text("Thời gian chạy1 ngày 2 giờ")
        expect(panel.locator(".node-facts")).to_contain_text("Đĩa còn trống5 GB")
        expect(row("hue-err-01")).to_have_attribute("aria-current", "true")
        panel.locator("a.node-close").click()
        expect(panel).to_be_hidden()

        # Straight from a shared link, on a phone: the panel opens on its node, and nothing is wider than it.
        phone = page.context.new_page()
        phone.set_viewport_size({"width": 375, "height": 740})
        phone.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        phone.on("pageerror", lambda e: problems.append(str(e)))
        phone.goto(f"{base}/?refresh_ms=300#nodes/cam-node-1")
        sign_in(phone)
        cams = phone.locator("#node-detail .node-camera-table tbody tr")
        expect(cams).to_have_count(1)
        expect(cams).to_contain_text("thap-1")
        expect(cams).to_contain_text("4,8")
        expect(phone.locator("#node-detail h3")).to_have_text("Chòi canh Bạch Mã (cam-node-1)")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375
        phone.goto(f"{base}/?refresh_ms=300#nodes/no-such-node")
        expect(phone.locator("#node-detail")).to_contain_text("Không tìm thấy thiết bị “no-such-node”.")
    assert problems == [], "no console errors"
