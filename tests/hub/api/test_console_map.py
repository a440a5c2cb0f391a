"""The console's map: GET /api/map against real alarms raised through the engine, and the map view in headless
Chromium (marker colours by level, labels, popup, legend, a #map/<node> link), with and without a tile server."""

from __future__ import annotations

import gzip
import http.server
import json
import re
import struct
import threading
import time
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from hub.alerts.config import RainGauge
from hub.alerts.evaluate.base import Observation
from hub.api.auth import ApiSettings, Role
from hub.api.console_settings import ConsoleSettings
from hub.store.state import NodeInfo
from testkit.browser import CHROMIUM, MISSING, chromium_page
from tests.hub.api.support import STATION, TOKENS, LocalHub, api_section

if TYPE_CHECKING:
    from playwright.sync_api import Page

T0 = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
SON_TAY = {**STATION, "station_id": "hong-son-tay", "node_id": "river-sontay-01", "name": "Sơn Tây", "bd1_m": 12.4,
           "bd2_m": 13.4, "bd3_m": 14.4}  # fmt: skip
NODES = [
    NodeInfo("river-longbien-01", "Trạm Long Biên", "01", 21.0433, 105.8636),
    NodeInfo("river-sontay-01", "Trạm Sơn Tây", "01", 21.1400, 105.5050),
    NodeInfo("reservoir-001", "Đập hồ minh hoạ", "42"),  # no position: listed beside the map
    NodeInfo("ridge-cam-01", "Chòi canh Hương Sơn", "42", 18.5160, 105.4290),
    NodeInfo("relay-01", "Trạm chuyển tiếp", "42", 18.3400, 105.9000),
    NodeInfo("pump-01", "Trạm bơm Yên Sở", "01", 20.9700, 105.8700),  # registered, never heard from
]
YELLOW, DARK_RED, QUIET, GREY, RISK_1 = "#FFEB3B", "#B71C1C", "#43A047", "#9E9E9E", "#87CEFA"
ENGLISH = re.compile(r"\b(critical|major|minor|warning|info|flood_level|dam_safety|never_seen|online)\b", re.I)


def seed(hub: LocalHub) -> None:
    """A second station in the flood table, five nodes, all heard from now; the ridge camera reports its fps."""
    assert hub.rules is not None
    rules = hub.dir / "rules" / "flood.yaml"
    rules.write_text(yaml.safe_dump({"stations": [STATION, SON_TAY]}, allow_unicode=True), "utf-8")
    hub.rules.reload("test")
    hub.state.register(NODES)
    status = {"node_id": "ridge-cam-01", "state": "online", "extra": {"cam.ridge.fps": 4.5, "cam.ridge.infer_ms": 80}}
    hub.state.persist(
        dead_letters=[],
        seen={n.node_id: time.time() for n in NODES if n.node_id != "pump-01"},
        statuses={"ridge-cam-01": ("online", json.dumps(status))},
        sensor_values={},
        dedupe={},
    )


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalHub]:
    hub = LocalHub(tmp_path, auth=ApiSettings.model_validate(api_section()))
    seed(hub)
    yield hub
    hub.close()


def points(hub: LocalHub) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    reply = hub.client(Role.VIEWER).get("/api/map")
    assert reply.status == 200
    return {p["id"]: p for p in reply.body["points"]}, reply.body


def test_points_named_placed_and_coloured_by_the_alarms_on_them(hub):
    found, body = points(hub)
    assert set(found) == {
        "station:hong-long-bien",
        "station:hong-son-tay",
        "reservoir:reservoir-001",
        "camera:ridge-cam-01/ridge",
        "node:relay-01",
        "node:pump-01",
    }
    long_bien = found["station:hong-long-bien"]
    assert long_bien["name"] == "Hà Nội (Long Biên)" and long_bien["kind"] == "station"
    assert (long_bien["lat"], long_bien["lon"], long_bien["node"]) == (21.0433, 105.8636, "river-longbien-01")
    assert long_bien["href"] == "#situation/rivers/hong-long-bien" and long_bien["link"] == "online"
    assert "level" not in long_bien  # no alarm: left out, as every field at its default
    assert body["areas"][long_bien["area"]] == "Thành phố Hà Nội"
    reservoir = found["reservoir:reservoir-001"]
    assert reservoir["name"] == "Hồ chứa minh hoạ" and "lat" not in reservoir and "lon" not in reservoir
    camera = found["camera:ridge-cam-01/ridge"]
    assert camera["name"] == "Camera ridge · Chòi canh Hương Sơn" and camera["href"] == "#cameras/ridge-cam-01/ridge"
    assert found["node:relay-01"]["name"] == "Trạm chuyển tiếp" and found["node:relay-01"]["href"] == "#nodes/relay-01"
    assert found["node:pump-01"]["link"] == "never_seen"
    assert body["tiles_url"] is None and body["legend"]["quiet"]["fill"] == QUIET

    # BĐ1 at Long Biên: the station turns yellow with its level in words, and Hà Nội wears its QĐ 18/2021 risk level.
    hub.stage(9.7, T0)
    found, body = points(hub)
    assert found["station:hong-long-bien"]["level"] == {
        "rule": "flood_level",
        "severity": "warning",
        "words": "Báo động I (BĐ1)",
        "fill": YELLOW,
    }
    assert "level" not in found["station:hong-son-tay"]
    hanoi = found["area:01"]
    assert (hanoi["name"], hanoi["level"]["words"], hanoi["level"]["fill"]) == (
        "Thành phố Hà Nội",
        "Cấp 1 · xanh dương nhạt",
        RISK_1,
    )
    assert (hanoi["lat"], hanoi["lon"]) == (21.0285, 105.8542)  # the unit table's centre of Hà Nội

    # BĐ3, and the reservoir between its design and check flood levels: the worst alarm of each point shows.
    hub.stage(11.6, T0 + timedelta(hours=1))
    later = T0 + timedelta(hours=1, minutes=5)
    hub.engine.process([Observation("reservoir-001", "level", "reservoir_level", later, 34.5)], now=later)
    found, body = points(hub)
    assert found["station:hong-long-bien"]["level"]["words"] == "Báo động III (BĐ3)"
    assert found["station:hong-long-bien"]["level"]["fill"] == DARK_RED
    assert found["reservoir:reservoir-001"]["level"]["severity"] == "major"
    assert body["areas"][found["reservoir:reservoir-001"]["area"]] == "Tỉnh Hà Tĩnh"

    # The stage falls back below BĐ1: the alarm clears and the station is quiet again.
    hub.stage(8.0, T0 + timedelta(hours=3))
    found, _ = points(hub)
    assert "level" not in found["station:hong-long-bien"]


def test_a_node_going_offline_colours_a_plain_node_but_never_a_station(hub):
    hub.stage(9.7, T0)
    assert hub.engine is not None
    at = T0 + timedelta(minutes=1)
    hub.engine.process([], statuses=[("relay-01", "offline", at), ("river-longbien-01", "offline", at)], now=at)
    found, _ = points(hub)
    relay = found["node:relay-01"]
    assert (relay["level"]["rule"], relay["level"]["words"]) == ("node_offline", "Nguy hiểm")
    station = found["station:hong-long-bien"]
    assert station["level"]["rule"] == "flood_level"  # still the river's level, not the link's
    assert station["also"] == [{"rule": "node_offline", "severity": "major", "words": "Nguy hiểm"}]


def test_a_rain_gauge_is_named_after_its_node_and_wears_its_heavy_rain_level(hub):
    assert hub.engine is not None and hub.rules is not None
    # The hub config's alerts.rain_gauges, as a reload would bring them: the engine re-reads them on every load.
    hub.engine.config.rain_gauges = [RainGauge(gauge_id="mua-yen-so", node_id="pump-01", sensor_id="rain")]
    hub.rules.reload("test")
    found, body = points(hub)
    gauge = found["rain_gauge:mua-yen-so"]
    assert (gauge["name"], gauge["kind"], gauge["href"]) == (
        "Trạm bơm Yên Sở",
        "rain_gauge",
        "#situation/rain/mua-yen-so",
    )
    assert body["areas"][gauge["area"]] == "Thành phố Hà Nội" and "node:pump-01" not in found  # the gauge is the node
    hub.engine.process([Observation("pump-01", "rain", "rainfall", T0, 130.0)], now=T0)
    found, _ = points(hub)
    assert found["rain_gauge:mua-yen-so"]["level"]["rule"] == "heavy_rain"


def test_six_hundred_points_stay_small(tmp_path):
    """500 stations and 100 cameras with 200 flood alarms, in one answer of modest size."""
    hub = LocalHub(tmp_path, auth=ApiSettings.model_validate(api_section()))
    try:
        assert hub.rules is not None and hub.engine is not None
        stations = [
            {**STATION, "station_id": f"song-hong-tram-{i:03d}", "node_id": f"river-station-{i:03d}",
             "name": f"Trạm Sông Hồng số {i}"}
            for i in range(500)
        ]  # fmt: skip
        (tmp_path / "rules" / "flood.yaml").write_text(yaml.safe_dump({"stations": stations}), "utf-8")
        hub.rules.reload("test")
        rivers = [NodeInfo(f"river-station-{i:03d}", f"Trạm số {i}", "01", 21 + i / 1000, 105.8) for i in range(500)]
        cameras = [NodeInfo(f"ridge-cam-{i:03d}", f"Chòi canh {i}", "42", 18 + i / 1000, 105.4) for i in range(100)]
        hub.state.register(rivers + cameras)
        statuses = {n.node_id: ("online", json.dumps({"extra": {"cam.ridge.fps": 5.0}})) for n in cameras}
        seen = {n.node_id: time.time() for n in rivers + cameras}
        hub.state.persist(dead_letters=[], seen=seen, statuses=statuses, sensor_values={}, dedupe={})
        hub.engine.process(
            [Observation(f"river-station-{i:03d}", "stage", "water_level", T0, 10.0) for i in range(200)], now=T0
        )
        request = urllib.request.Request(
            f"{hub.base}/api/map", headers={"Authorization": f"Bearer {TOKENS[Role.VIEWER]}", "Accept-Encoding": "gzip"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            sent = resp.read()
        body = gzip.decompress(sent)
        found = json.loads(body)["points"]
        assert len(found) == 600 + 1  # and the reservoir of the rule tables LocalHub writes
        assert sum(1 for p in found if p.get("level")) == 200
        # Long names and ids throughout (Vietnamese, two bytes a letter): about 250 bytes a point as JSON, a twelfth
        # of that as sent.
        assert len(body) < 180_000 and len(sent) < 30_000, (len(body), len(sent))
    finally:
        hub.close()


# -- the page ---------------------------------------------------------------------------------------------------
browser = pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)


@contextmanager
def map_page(hub: LocalHub, tmp_path: Path, arg: str = "", requests: list[str] | None = None) -> Iterator[Page]:
    """Signed in as an officer on #map[/arg]; every URL the page asks for goes into ``requests``."""
    from playwright.sync_api import expect

    with chromium_page(tmp_path / "chromium-profile") as (page, problems):
        if requests is not None:
            page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{hub.base}/?refresh_ms=300#map{'/' + arg if arg else ''}")
        page.fill("#token", TOKENS[Role.OFFICER])
        page.click("#login-form button")
        expect(page.locator("#who-name")).to_have_text("officer-1 (officer)")
        yield page
    assert problems == [], "no console errors"


def marker(page: Page, point_id: str):
    return page.locator(f'#view-map path[data-point="{point_id}"]')


@browser
def test_markers_wear_their_level_in_colour_shape_and_words(hub, tmp_path):
    from playwright.sync_api import expect

    hub.stage(9.7, T0)
    with map_page(hub, tmp_path) as page:
        long_bien, son_tay = marker(page, "station:hong-long-bien"), marker(page, "station:hong-son-tay")
        expect(long_bien).to_have_attribute("fill", YELLOW)
        expect(son_tay).to_have_attribute("fill", QUIET)
        expect(marker(page, "area:01")).to_have_attribute("fill", RISK_1)
        expect(marker(page, "camera:ridge-cam-01/ridge")).to_have_attribute("data-kind", "camera")
        # Not colour alone: the names and levels are written beside the points (few points: always shown).
        labels = page.locator("#view-map .map-label")
        expect(labels.filter(has_text="Hà Nội (Long Biên) · Báo động I (BĐ1)")).to_be_visible()
        expect(labels.filter(has_text="Sơn Tây")).to_be_visible()
        # Never heard from: grey (its level is unknown, not normal), a dashed outline, and said beside it.
        pump = marker(page, "node:pump-01")
        expect(pump).to_have_attribute("fill", GREY)
        expect(pump).to_have_attribute("stroke-dasharray", "3 2")
        expect(labels.filter(has_text="Trạm bơm Yên Sở · chưa từng kết nối")).to_be_visible()
        # The reservoir's node has no position: it is listed beside the map, not dropped.
        unplaced = page.locator("#map-unplaced")
        expect(unplaced.locator("h2")).to_have_text("Chưa có toạ độ (1)")
        expect(unplaced.locator("a")).to_have_text("Hồ chứa minh hoạ")
        legend = page.locator("#map-legend")
        for words in ("Rất nguy hiểm", "Chú ý", "Bình thường", "Cấp 3 · da cam", "Trạm thủy văn", "Hồ chứa", "Camera"):
            expect(legend).to_contain_text(words)
        # The popup: name, level in words, area, and links into the other views.
        long_bien.click()
        popup = page.locator(".leaflet-popup-content")
        expect(popup.locator("h3")).to_have_text("Hà Nội (Long Biên)")
        expect(popup).to_contain_text("Báo động I (BĐ1)")
        expect(popup).to_contain_text("Lũ (mực nước)")
        expect(popup).to_contain_text("Khu vực: Thành phố Hà Nội")
        expect(popup.get_by_role("link", name="Xem mực nước")).to_have_attribute(
            "href", "#situation/rivers/hong-long-bien"
        )
        expect(popup.get_by_role("link", name="Xem thiết bị")).to_have_attribute("href", "#nodes/river-longbien-01")
        assert ENGLISH.findall(page.locator("#view-map").inner_text()) == []

        # BĐ3: the same marker (never rebuilt) turns dark red, and the open popup follows.
        long_bien.evaluate("path => path.dataset.mark = 'kept'")
        hub.stage(11.6, T0 + timedelta(hours=1))
        expect(long_bien).to_have_attribute("fill", DARK_RED)
        expect(popup).to_contain_text("Báo động III (BĐ3)")
        expect(page.locator('#view-map path[data-mark="kept"]')).to_have_count(1)
        expect(son_tay).to_have_attribute("fill", QUIET)


@browser
def test_a_link_to_a_node_opens_the_map_at_its_point(hub, tmp_path):
    from playwright.sync_api import expect

    with map_page(hub, tmp_path, "ridge-cam-01") as page:
        popup = page.locator(".leaflet-popup-content")
        expect(popup.locator("h3")).to_have_text("Camera ridge · Chòi canh Hương Sơn")
        expect(popup.get_by_role("link", name="Xem camera")).to_have_attribute("href", "#cameras/ridge-cam-01/ridge")
        centre = page.evaluate("() => document.querySelector('#map-canvas').getBoundingClientRect().toJSON()")
        box = marker(page, "camera:ridge-cam-01/ridge").bounding_box()
        assert box is not None
        # Centred on it (the popup may pan the map up a little to fit above the marker).
        assert abs(box["x"] + box["width"] / 2 - (centre["x"] + centre["width"] / 2)) < 30
        # A node without a position is pointed out in the list instead.
        page.evaluate("() => { location.hash = '#map/reservoir-001'; }")
        expect(page.locator('#map-unplaced li[data-point="reservoir:reservoir-001"]')).to_have_class(
            re.compile("map-focus")
        )


def tile_png() -> bytes:
    """A 1x1 grey PNG, built here rather than kept as a binary file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xc0")) + chunk(b"IEND", b"")
    )


@contextmanager
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """Serves the PNG at every /{z}/{x}/{y}.png and records the paths asked for."""
    asked: list[str] = []
    body = tile_png()

    class Tiles(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            ok = re.fullmatch(r"/\d+/\d+/\d+\.png", self.path) is not None
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


@browser
def test_a_configured_tile_server_is_asked_for_tiles_and_admitted_by_the_csp(tmp_path):
    from playwright.sync_api import expect

    with tile_server() as (origin, asked):
        console = ConsoleSettings.model_validate(
            {"map": {"tiles_url": f"{origin}/{{z}}/{{x}}/{{y}}.png", "attribution": "© Bản đồ nền của IOC"}}
        )
        hub = LocalHub(tmp_path, auth=ApiSettings.model_validate(api_section()), app_options={"console": console})
        try:
            seed(hub)
            assert origin in hub.client().get("/").headers["Content-Security-Policy"]
            with map_page(hub, tmp_path) as page:
                expect(marker(page, "station:hong-long-bien")).to_have_attribute("fill", QUIET)
                expect(page.locator("#view-map img.leaflet-tile-loaded").first).to_be_visible()
                expect(page.locator(".map-attribution")).to_have_text("© Bản đồ nền của IOC")
            assert asked and all(re.fullmatch(r"/\d+/\d+/\d+\.png", p) for p in asked), asked
        finally:
            hub.close()


@browser
def test_without_a_tile_url_the_page_asks_nothing_of_anyone_but_the_hub(hub, tmp_path):
    from playwright.sync_api import expect

    requests: list[str] = []
    with map_page(hub, tmp_path, requests=requests) as page:
        expect(marker(page, "station:hong-long-bien")).to_have_attribute("fill", QUIET)
        expect(page.locator("#status")).to_contain_text("điểm trên bản đồ")
        expect(page.locator("#view-map .leaflet-tile")).to_have_count(0)
        expect(page.locator("#map-legend")).to_contain_text("Không dùng nền bản đồ")
    elsewhere = [u for u in requests if not u.startswith(hub.base) and not u.startswith(("data:", "blob:"))]
    assert elsewhere == []
