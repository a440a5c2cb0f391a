"""The cameras view against a real hub process fed over MQTT (events into a real InfluxDB, a snapshot into SQLite, a
status with camera figures), with a live camera behind Basic auth: the API's list and event history, then the page in
headless Chromium (the snapshot with its box where the event put it, the history, the live view and its end)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.publish as mqtt_publish
import pytest
import yaml

from hub.api.auth import Role
from simulators.camera.guarded import GuardedCamera
from testkit.browser import CHROMIUM, MISSING, chromium_page
from tests.hub.api.support import TOKENS, Client, api_section, write_rules
from tests.support.wait import wait_until

NODE, CAM = "cam-node-1", "thap-1"
USER, PASSWORD, PASSWORD_ENV = "cam-admin-51", "pw-cameras-view-7d", "IOCGW_TEST_VIEW_CAMERA_PASSWORD"
FIRE_BOX = [0.2, 0.3, 0.6, 0.7]  # ymin, xmin, ymax, xmax


@pytest.fixture
def camera() -> Iterator[GuardedCamera]:
    cam = GuardedCamera(USER, PASSWORD).start()
    yield cam
    cam.stop()


def event(seq: int, ts: datetime, event_id: str, label: str, phase: str, score: float, box: list[float], **more: Any):
    return {
        "v": 1,
        "node_id": NODE,
        "seq": seq,
        "ts": ts.isoformat(),
        "channel": "event",
        "event_id": event_id,
        "phase": phase,
        "camera": CAM,
        "label": label,
        "score": score,
        "top_score": more.pop("top_score", score),
        "box": box,
        "start": more.pop("start", ts).isoformat(),
        **more,
    }


def feed(port: int, jpeg: bytes) -> dict[str, datetime]:
    """A smoke event that came and went 50 to 40 minutes ago, a fire still burning since 5 minutes ago with its
    snapshot, the node's status with the camera's figures, and one event of a second camera."""
    now = datetime.now(UTC)
    smoke = now - timedelta(minutes=50)
    fire = now - timedelta(minutes=5)
    status = {
        "v": 1,
        "node_id": NODE,
        "seq": 1,
        "ts": now.isoformat(),
        "channel": "status",
        "state": "online",
        "extra": {f"cam.{CAM}.fps": 4.8, f"cam.{CAM}.infer_ms": 35.2, f"cam.{CAM}.connected": 1.0},
    }
    snapshot_topic = f"iocgw/v1/{NODE}/snapshot/{CAM}/fire"
    messages = [
        (f"iocgw/v1/{NODE}/status", status),
        (f"iocgw/v1/{NODE}/event", event(2, smoke, "evt-smoke", "smoke", "new", 0.72, [0.1, 0.1, 0.3, 0.3])),
        (
            f"iocgw/v1/{NODE}/event",
            event(
                3, smoke + timedelta(minutes=5), "evt-smoke", "smoke", "update", 0.8, [0.1, 0.1, 0.4, 0.4], start=smoke
            ),
        ),
        (
            f"iocgw/v1/{NODE}/event",
            event(
                4, smoke + timedelta(minutes=10), "evt-smoke", "smoke", "end", 0.5, [0.1, 0.1, 0.4, 0.4], top_score=0.8
            ),
        ),
        (f"iocgw/v1/{NODE}/event", event(5, fire, "evt-fire", "fire", "new", 0.91, FIRE_BOX, snapshot=snapshot_topic)),
        (
            "iocgw/v1/cam-node-2/event",
            {**event(1, fire, "evt-2", "smoke", "new", 0.75, [0.5, 0.5, 0.6, 0.6]), "node_id": "cam-node-2"},
        ),
    ]
    for topic, body in messages:
        mqtt_publish.single(topic, json.dumps(body), qos=1, hostname="127.0.0.1", port=port)
    mqtt_publish.single(snapshot_topic, jpeg, qos=1, retain=True, hostname="127.0.0.1", port=port)
    return {"smoke": smoke, "fire": fire}


def start_hub(tmp_path: Path, make_hub, monkeypatch, camera: GuardedCamera) -> Client:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    nodes = tmp_path / "nodes"
    nodes.mkdir()
    seed = {"node_id": NODE, "site": {"name": "Tháp canh Hương Sơn", "admin_code": "42"}}
    (nodes / f"{NODE}.yaml").write_text(yaml.safe_dump(seed, allow_unicode=True), "utf-8")
    console = {
        "cameras": [
            {
                "node_id": NODE,
                "camera": CAM,
                "name": "Đồi thông phía bắc",
                "mjpeg_url": camera.url,
                "username": USER,
                "password": {"env": PASSWORD_ENV},
            }
        ]
    }
    registry = {"seed_files": [str(nodes / "*.yaml")]}
    # Alert rules too: the page's alerts view (where the officer goes on leaving the cameras) asks for alarms.
    hub = make_hub(api=api_section(), console=console, registry=registry, alerts=write_rules(tmp_path / "rules"))
    return Client(f"http://127.0.0.1:{hub.http_port}").as_(Role.VIEWER)


def fed(api: Client) -> dict[str, Any]:
    """Waits for the hub to have stored everything ``feed`` sent; returns the camera list."""

    def ready() -> dict[str, Any] | None:
        listing = api.get("/api/cameras").body
        by_key = {(c["node_id"], c["camera"]): c for c in listing["cameras"]}
        ours, other = by_key.get((NODE, CAM)), by_key.get(("cam-node-2", CAM))
        done = ours and other and ours["snapshot"] and ours["fps"] and (ours["last_event"] or {}).get("label") == "fire"
        return listing if done else None

    return wait_until(ready, what="the camera's status, events and snapshot stored by the hub")


def test_list_and_history_from_what_the_node_sent(tmp_path, make_hub, mosquitto, monkeypatch, camera):
    api = start_hub(tmp_path, make_hub, monkeypatch, camera)
    times = feed(mosquitto.port, camera.jpegs[0])
    listing = fed(api)
    assert listing["events"] is True and listing["count"] == 2
    ours, other = listing["cameras"]
    assert ours["node_id"] == NODE and ours["camera"] == CAM
    assert (ours["name"], ours["node_name"], ours["state"]) == ("Đồi thông phía bắc", "Tháp canh Hương Sơn", "ok")
    assert (ours["fps"], ours["infer_ms"], ours["live"]) == (4.8, 35.2, True)
    assert ours["snapshot"] == f"/api/snapshots/{NODE}/{CAM}/fire"
    assert (ours["last_event"]["label_vi"], ours["last_event"]["box"]) == ("Lửa", FIRE_BOX)
    # Known by its event alone: listed under its id, no live view, no status.
    assert (other["node_id"], other["name"], other["live"], other["state"]) == ("cam-node-2", CAM, False, "unknown")
    assert other["last_event"]["label_vi"] == "Khói"
    # Nothing of where the live picture comes from.
    for secret in (USER, PASSWORD, str(camera.port), "mjpeg"):
        assert secret not in json.dumps(listing)

    history = api.get(f"/api/cameras/{NODE}/{CAM}/events?hours=24").body
    fire, smoke = history["events"]
    assert history["truncated"] is False
    assert (fire["event_id"], fire["label_vi"], fire["end"], fire["box"]) == ("evt-fire", "Lửa", None, FIRE_BOX)
    assert fire["snapshot"] == f"/api/snapshots/{NODE}/{CAM}/fire"
    assert datetime.fromisoformat(fire["start"]) == times["fire"].replace(
        microsecond=times["fire"].microsecond // 1000 * 1000
    )
    # The smoke's three points make one event: first report to its end, the latest box, the highest top score.
    assert (smoke["event_id"], smoke["label_vi"], smoke["top_score"], smoke["score"]) == ("evt-smoke", "Khói", 0.8, 0.5)
    assert smoke["box"] == [0.1, 0.1, 0.4, 0.4]
    assert datetime.fromisoformat(smoke["end"]) - datetime.fromisoformat(smoke["start"]) == timedelta(minutes=10)
    # The last half hour holds the fire only; a limit of one keeps the newest and says more were left out.
    assert [e["event_id"] for e in api.get(f"/api/cameras/{NODE}/{CAM}/events?hours=0.5").body["events"]] == [
        "evt-fire"
    ]
    limited = api.get(f"/api/cameras/{NODE}/{CAM}/events?limit=1").body
    assert ([e["event_id"] for e in limited["events"]], limited["truncated"]) == (["evt-fire"], True)
    assert api.get(f"/api/cameras/{NODE}/{CAM}/events?hours=0").status == 422
    assert api.get(f"/api/cameras/{NODE}/Bad'Name/events").status == 404


@pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)
def test_page_shows_the_snapshot_with_its_box_the_history_and_the_live_view(
    tmp_path, make_hub, mosquitto, monkeypatch, camera
):
    from playwright.sync_api import expect

    api = start_hub(tmp_path, make_hub, monkeypatch, camera)
    feed(mosquitto.port, camera.jpegs[0])
    fed(api)

    with chromium_page(tmp_path / "chromium-profile") as (page, problems):
        # A shared link straight to the camera: sign-in first, then the camera.
        page.goto(f"{api.base}/?refresh_ms=300#cameras/{NODE}/{CAM}")
        page.fill("#token", TOKENS[Role.VIEWER])
        page.click("#login-form button")
        view = page.locator("#view-cameras")

        # The cards: names, not ids, where the hub has them; state and last detection in words.
        cards = view.locator(".cam-card")
        expect(cards).to_have_count(2)
        expect(cards.nth(0)).to_contain_text("Đồi thông phía bắc")
        expect(cards.nth(0)).to_contain_text("Tháp canh Hương Sơn")
        expect(cards.nth(0)).to_contain_text("✔ Đang hoạt động")
        expect(cards.nth(0)).to_contain_text("Lửa (điểm 0,91)")
        expect(cards.nth(1)).to_contain_text("Khói")

        # The snapshot, and the fire's box where the node put it (fractions of the picture), labelled.
        expect(view.locator(".cam-title")).to_have_text("Đồi thông phía bắc")
        snapshot = view.locator(".cam-snapshot")
        expect(snapshot).to_be_visible()
        assert snapshot.evaluate("img => img.complete && img.naturalWidth") == 320
        box = view.locator(".cam-box")
        expect(box).to_be_visible()
        expect(box.locator(".cam-box-label")).to_have_text("Lửa 0,91")

        def box_in_picture() -> list[float] | None:
            pic, drawn = snapshot.bounding_box(), box.bounding_box()
            if not pic or not drawn or pic["width"] < 50:
                return None
            got = [
                (drawn["y"] - pic["y"]) / pic["height"],
                (drawn["x"] - pic["x"]) / pic["width"],
                (drawn["y"] + drawn["height"] - pic["y"]) / pic["height"],
                (drawn["x"] + drawn["width"] - pic["x"]) / pic["width"],
            ]
            return got if all(abs(g - w) < 0.01 for g, w in zip(got, FIRE_BOX, strict=True)) else None

        wait_until(box_in_picture, timeout=10, what=f"the box drawn at {FIRE_BOX} of the picture")

        # The history, newest first, and one mark per detection on the 24-hour timeline.
        rows = view.locator(".cam-events tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("Lửa")
        expect(rows.nth(0)).to_contain_text("Đang diễn ra")
        expect(rows.nth(1)).to_contain_text("Khói")
        marks = view.locator(".cam-timeline .cam-mark")
        expect(marks).to_have_count(2)
        expect(marks.nth(0)).to_have_text("L")
        expect(marks.nth(1)).to_have_text("K")

        # The live view on demand, relayed by the hub (the page never has the camera's address).
        assert camera.open_streams == 0
        view.locator(".cam-live-button").click()
        live = view.locator(".cam-live-img")
        expect(live).to_be_visible()
        wait_until(lambda: live.evaluate("img => img.naturalWidth") == 320, timeout=15, what="a live frame")
        assert live.get_attribute("src") == f"/api/cameras/{NODE}/{CAM}/live"
        assert camera.open_streams == 1
        expect(view.locator(".cam-live-status")).to_have_text("Đang xem trực tiếp")
        html = page.content()
        for secret in (USER, PASSWORD, str(camera.port)):
            assert secret not in html

        # On a phone: one column, nothing wider than the screen, the box still on the fire.
        page.set_viewport_size({"width": 375, "height": 800})
        wait_until(lambda: page.evaluate("document.documentElement.scrollWidth") <= 375, what="no sideways scroll")
        wait_until(box_in_picture, timeout=10, what="the box on the phone-sized picture")

        # Leaving the view drops the picture, and the camera sees its connection close.
        page.click('#views a[data-view="alerts"]')
        expect(view.locator(".cam-live-img")).to_have_count(0)
        wait_until(lambda: camera.open_streams == 0, timeout=20, what="the camera's stream closed")
    assert problems == [], "no console errors"
