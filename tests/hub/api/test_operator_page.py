"""The operator page in headless Chromium against a real hub: token prompt, colours, Vietnamese text, acknowledge."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import paho.mqtt.publish as mqtt_publish
import pytest

from hub.alerts.rules.risk_level import risk_colour
from hub.alerts.rules.severity import Severity
from hub.api.alerts import SEVERITY_COLOURS
from hub.api.auth import Role
from testkit.browser import CHROMIUM, MISSING, chromium_page
from tests.hub.api.support import TOKENS, Client, api_section, seed_nodes, write_rules
from tests.hub.test_snapshots import tiny_jpeg
from tests.support.wait import wait_until
from wire import Reading

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)


def rgb(hex_colour: str) -> str:
    """How getComputedStyle writes a #RRGGBB colour."""
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def camera_event(port: int) -> None:
    """A confirmed smoke detection, published as a camera node would (QoS 1; returns once the broker has it)."""
    now = datetime.now(UTC).isoformat()
    event = {
        "v": 1,
        "node_id": "cam-node-1",
        "seq": 1,
        "ts": now,
        "channel": "event",
        "event_id": "evt-0001",
        "phase": "new",
        "camera": "thap-1",
        "label": "smoke",
        "score": 0.9,
        "top_score": 0.92,
        "box": [0.1, 0.1, 0.3, 0.3],
        "start": now,
        "snapshot": "iocgw/v1/cam-node-1/snapshot/thap-1/smoke",
    }
    mqtt_publish.single("iocgw/v1/cam-node-1/event", json.dumps(event), qos=1, hostname="127.0.0.1", port=port)
    # Its picture, retained as a node publishes it: the page shows it beside the alert.
    mqtt_publish.single(event["snapshot"], tiny_jpeg(7), qos=1, retain=True, hostname="127.0.0.1", port=port)


def test_page_shows_coloured_alerts_and_acknowledges(tmp_path, make_hub, make_node, mosquitto):
    from playwright.sync_api import Locator, expect

    # The node's area (from the registry) lets the engine raise Hà Nội's disaster risk level beside the flood alarm.
    registry = seed_nodes(tmp_path / "nodes")
    hub = make_hub(alerts=write_rules(tmp_path / "rules"), api=api_section(), registry=registry)
    api = Client(f"http://127.0.0.1:{hub.http_port}").as_(Role.VIEWER)
    node = make_node("river-longbien-01")
    reading = Reading(sensor_id="stage", quantity="water_level", value=9.7, unit="m", ts=datetime.now(UTC))
    node.call(lambda a: a.record([reading]))
    camera_event(mosquitto.port)

    def active() -> dict[str, dict]:
        return {a["rule"]: a for a in api.get("/api/alerts?active=true").body["alerts"]}

    rules = {"flood_level", "disaster_risk", "camera_fire"}
    alerts = wait_until(lambda: (a := active()).keys() >= rules and a, what="flood, risk and camera alerts")
    # Stored before the page opens, so the page never asks for it in vain (a 404 would be a console error).
    picture = "/api/snapshots/cam-node-1/thap-1/smoke"
    wait_until(lambda: api.call("HEAD", picture).status == 200, what="the camera snapshot stored")

    with chromium_page(tmp_path / "chromium-profile") as (page, problems):
        page.goto(f"{api.base}/?refresh_ms=500")

        # The page loads without a token and asks for one; a wrong one is refused.
        expect(page.locator("#login")).to_be_visible()
        page.fill("#token", "not-a-token")
        page.click("#login-form button")
        expect(page.locator("#login-error")).to_have_text("Mã truy cập không đúng.")
        page.fill("#token", TOKENS[Role.OFFICER])
        page.click("#login-form button")
        expect(page.locator("#who-name")).to_have_text("officer-1 (officer)")

        def row(rule: str) -> Locator:
            return page.locator(f'#alerts tr[data-alert-id="{alerts[rule]["id"]}"]')

        risk_badge = row("disaster_risk").locator(".badge")
        expect(risk_badge).to_have_text("Cấp 1 · xanh dương nhạt")
        expect(risk_badge).to_have_css("background-color", rgb(risk_colour(1).hex))
        expect(row("disaster_risk")).to_contain_text("Cấp độ rủi ro thiên tai 1 (xanh dương nhạt)")
        flood_badge = row("flood_level").locator(".badge")
        expect(flood_badge).to_have_css("background-color", rgb(SEVERITY_COLOURS[Severity.WARNING][0]))
        expect(row("flood_level")).to_contain_text("Lũ (mực nước)")
        expect(row("camera_fire")).to_contain_text("Sự kiện: evt-0001")
        expect(row("camera_fire")).to_contain_text("iocgw/v1/cam-node-1/snapshot/thap-1/smoke")
        snapshot = row("camera_fire").locator(".snapshot img")
        expect(snapshot).to_be_visible()  # shown once loaded: fetched with the token, decoded by the browser
        assert snapshot.evaluate("img => img.complete && img.naturalWidth") > 0

        flood = row("flood_level")
        # A note longer than the hub takes: the real hub answers 422 and the officer reads why, in Vietnamese.
        flood.locator(".ack-comment").fill("x" * 2100)
        flood.locator(".ack-button").click()
        expect(flood.locator(".error")).to_contain_text("Dữ liệu không hợp lệ: ghi chú:")
        expect(flood.locator(".error")).to_contain_text("2000")
        flood.locator(".ack-comment").fill("đã báo UBND phường")
        flood.locator(".ack-button").click()
        expect(flood.locator(".state")).to_have_text("Đã xác nhận")
        stored = api.get(f"/api/alerts/{alerts['flood_level']['id']}").body
        assert (stored["state"], stored["acked_by"], stored["ack_comment"]) == (
            "ACTIVE_ACK",
            "officer-1",
            "đã báo UBND phường",
        )
        expect(flood).to_contain_text("officer-1")

        # The token lives in sessionStorage: a reload does not ask again.
        page.reload()
        expect(page.locator("#who-name")).to_have_text("officer-1 (officer)")
        expect(page.locator("#login")).to_be_hidden()
    # The errors expected: the 401 of the wrong token and the 422 of the over-long note tried above.
    expected = [m for m in problems if "status of 401" in m or "status of 422" in m]
    assert len(expected) == 2, problems
    unexpected = [m for m in problems if m not in expected]
    assert unexpected == [], "no console errors (CSP violations, script errors, missing files)"
