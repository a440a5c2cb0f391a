"""The public status page and its JSON: real alarms through the engine, no token, technicians' alarms absent,
Vietnamese intact, the size budget, and the page in headless Chromium on a phone on a throttled link."""

from __future__ import annotations

import gzip
import json
import re
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from hub.alerts.alarm import Alarm, AlarmState
from hub.alerts.config import AlertsConfig, RuleTables, load_rule_tables
from hub.alerts.engine import AlertEngine
from hub.alerts.evaluate.base import Observation
from hub.alerts.rules.flood_levels import FloodStation, FloodStationTable
from hub.alerts.rules.risk_level import risk_colour
from hub.alerts.rules.severity import Severity
from hub.alerts.store import AlertStore
from hub.alerts.threshold_overrides import RuleManager, ThresholdStore
from hub.api import alerts as alert_routes
from hub.api import openapi, public_page
from hub.api.auth import ApiSettings
from hub.api.compression import accepts_gzip
from hub.api.context import ApiContext
from hub.api.routes import endpoint, json_errors
from hub.metrics import Metrics
from hub.store.state import HubState
from testkit.browser import CHROMIUM, FLAGS, MISSING
from tests.hub.api.support import RESERVOIR, STATION, Client, Pipeline, ServerThread, api_section

# Chrome DevTools' "Fast 3G" preset (front_end/core/sdk/NetworkManager.ts, renamed "Slow 4G" in 2024):
# 1.6 Mbit/s x 0.9 down, 750 kbit/s x 0.9 up, 150 ms x 3.75 request latency. The benchmark (bench/public_page.py)
# times the paint under this and slower profiles; here it only makes the functional checks run on a slow link.
FAST_3G = {
    "offline": False,
    "latency": 562.5,
    "downloadThroughput": 1.6e6 / 8 * 0.9,
    "uploadThroughput": 750e3 / 8 * 0.9,
}
PHONE = {"width": 360, "height": 640}
RESPONSIBLE = "Nguyễn Văn Trực"  # who must warn downstream, per the operating procedure: a person, never shown
PLANNER = "dieu-hanh-ho-1"
RELEASE_OPEN = datetime(2030, 6, 1, 7, 0, tzinfo=UTC)  # far ahead: the plan is always "coming"
SECOND_STATION = {
    **STATION,
    "station_id": "da-hoa-binh",
    "node_id": None,
    "sensor_id": None,
    "river": "Đà",
    "name": "Hòa Bình",
    "province": "Hòa Bình",
}


def _rules(directory: Path) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    reservoir = {
        **RESERVOIR,
        "release": {
            "warning_lead_time": "PT4H",
            "signal": "còi hú",
            "responsible": RESPONSIBLE,
            "procedure": "QĐ vận hành (minh hoạ)",
        },
    }
    stations = {"stations": [STATION, SECOND_STATION]}
    (directory / "flood.yaml").write_text(yaml.safe_dump(stations, allow_unicode=True), "utf-8")
    (directory / "reservoirs.yaml").write_text(yaml.safe_dump({"reservoirs": [reservoir]}, allow_unicode=True), "utf-8")
    # Freshness on, with one sensor never heard from since an hour ago: a data_freshness alarm for technicians.
    return {
        "flood_stations": str(directory / "flood.yaml"),
        "reservoirs": str(directory / "reservoirs.yaml"),
        "freshness": {"enabled": True},
    }


class PublicHub:
    """An engine, its stores, the alert routes and the public ones, served from a thread."""

    def __init__(self, tmp_path: Path) -> None:
        data = tmp_path / "data"
        self.state = HubState(data / "hub.db")
        self.state.register([])
        config = AlertsConfig.model_validate(_rules(tmp_path / "rules"))
        self.rules = RuleManager(lambda: load_rule_tables(config), ThresholdStore(data / "alerts.db"))
        self.engine = AlertEngine(
            config,
            self.rules.current,
            AlertStore(data / "alerts.db"),
            areas={"river-longbien-01": "01", "reservoir-001": "42"},
            intervals={("river-longbien-01", "rain"): 60.0},
            now=datetime.now(UTC) - timedelta(hours=1),
        )
        self.rules.bind(self.engine.load)
        self.alerts = AlertStore(data / "alerts.db")
        auth = ApiSettings.model_validate(api_section())
        ctx = ApiContext(Pipeline(), Metrics(), self.state, 300.0, self.engine, self.alerts, self.rules, auth)
        # What make_app does, with the alert routes beside (token needed there, not here) and every build fresh,
        # so that a test sees each change at once.
        self.routes = public_page.routes(ctx, build_every_s=0.0)
        app = web.Application(middlewares=[json_errors])
        for route in [*alert_routes.routes(ctx), *self.routes]:
            if route.method == "GET":
                app.router.add_get(route.path, endpoint(route, auth))
            else:
                app.router.add_route(route.method, route.path, endpoint(route, auth))
        self.server = ServerThread(app).start()
        self.base = f"http://127.0.0.1:{self.server.port}"

    def stage(self, value: float, ts: datetime) -> None:
        self.engine.process([Observation("river-longbien-01", "stage", "water_level", ts, value)], now=ts)

    def close(self) -> None:
        self.server.stop()
        self.state.close()
        self.engine.store.close()
        self.rules.store.close()
        self.alerts.close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[PublicHub]:
    h = PublicHub(tmp_path)
    yield h
    h.close()


def raise_alarms(hub: PublicHub) -> datetime:
    """BĐ1 then BĐ2 at Long Biên, its node offline, a silent sensor, a release plan; returns the last reading's time."""
    now = datetime.now(UTC).replace(microsecond=0)
    first, last = now - timedelta(minutes=10), now
    hub.stage(9.7, first)
    hub.stage(10.7, last)
    hub.engine.process([], statuses=[("river-longbien-01", "offline", now)], now=now)
    hub.engine.tick(now)
    hub.engine.plan_release("reservoir-001", RELEASE_OPEN, PLANNER, 1234.0)
    flood = next(a for a in hub.engine.active() if a.rule == "flood_level")
    hub.engine.acknowledge(flood.id, "officer-1", "đã báo UBND phường Long Biên")
    # The technicians' alarms are really there: the page has to leave them out.
    assert {a.rule for a in hub.engine.active()} >= {"flood_level", "disaster_risk", "node_offline", "data_freshness"}
    return last


def test_status_json_shows_public_warnings_without_a_token(hub: PublicHub) -> None:
    observed = raise_alarms(hub)
    assert Client(hub.base).get("/api/alerts").status == 401  # the operator API still wants a token
    reply = Client(hub.base).get("/public/status.json")  # no Authorization header
    assert reply.status == 200
    body = reply.body

    area = body["areas"][0]
    assert [a["code"] for a in body["areas"]] == ["01"]
    assert area["name"] == "Thành phố Hà Nội"
    # Zone 3, BĐ2 reached: QĐ 18/2021 flood risk level 2, light yellow.
    assert area["risk"] == {
        "level": 2,
        "colour_vi": "vàng nhạt",
        "meaning_vi": "Rủi ro trung bình",
        "label": "Cấp 2 · vàng nhạt",
        "colour": risk_colour(2).hex,
        "text_colour": risk_colour(2).text_hex,
    }
    assert area["hazards"] == [
        {"key": "flood:hong-long-bien", "name_vi": "Lũ sông Hồng tại Hà Nội (Long Biên)", "level": 2}
    ]
    assert area["warnings"] == 1

    assert [(a["rule"], a["subject"], a["area"]) for a in body["alarms"]] == [("flood_level", "hong-long-bien", "01")]
    alarm = body["alarms"][0]
    assert alarm["message"] == "Sông Hồng tại Hà Nội (Long Biên): 10.70 m, BĐ2 (10.50 m)"
    assert (alarm["severity"], alarm["severity_vi"], alarm["level"]) == ("major", "Nguy hiểm", 2)
    assert alarm["title_vi"] == "Lũ trên sông"
    assert datetime.fromisoformat(alarm["since"]) == observed - timedelta(minutes=10)

    stations = {s["station_id"]: s for s in body["stations"]}
    assert list(stations) == ["hong-long-bien", "da-hoa-binh"]  # the highest BĐ level first
    lb = stations["hong-long-bien"]
    assert (lb["level_m"], lb["bd_level"], lb["bd_label"], lb["bd_m"]) == (10.7, 2, "BĐ2", [9.5, 10.5, 11.5])
    assert datetime.fromisoformat(lb["observed_at"]) == observed
    assert (lb["trend"], lb["rate_m_per_h"], lb["stale"]) == ("rising", 6.0, False)  # 1 m in 10 min
    hb = stations["da-hoa-binh"]
    assert (hb["level_m"], hb["observed_at"], hb["bd_level"], hb["bd_label"]) == (None, None, None, "Chưa có số liệu")

    assert body["releases"] == [
        {
            "reservoir_id": "reservoir-001",
            "name": "Hồ chứa minh hoạ",
            "province": "Hà Tĩnh",
            "planned_open": "2030-06-01T07:00:00Z",
            "release_m3s": 1234.0,
            "opened": False,
        }
    ]
    assert body["available"] is True

    raw = Client(hub.base).call("GET", "/public/status.json").body
    text = json.dumps(raw, ensure_ascii=False)
    for absent in ("node_offline", "data_freshness", "data_quality", "officer-1", "UBND", RESPONSIBLE, PLANNER):
        assert absent not in text, absent


def test_json_is_utf8_cached_and_gzipped(hub: PublicHub) -> None:
    raise_alarms(hub)
    plain = Client(hub.base).call("GET", "/public/status.json", headers={"Accept-Encoding": "identity"})
    assert plain.headers["Cache-Control"] == "public, max-age=30"
    assert "Content-Encoding" not in plain.headers
    assert "Sông Hồng" in json.dumps(plain.body, ensure_ascii=False)

    req = urllib.request.Request(hub.base + "/public/status.json", headers={"Accept-Encoding": "gzip, deflate, br"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert resp.headers["Vary"] == "Accept-Encoding"
        raw = gzip.decompress(resp.read())
    # Vietnamese as UTF-8 bytes, not \u escapes: readable in curl as it is on the page.
    assert "Sông Hồng tại Hà Nội (Long Biên)".encode() in raw
    assert json.loads(raw) == plain.body


def test_page_is_server_rendered_self_contained_vietnamese(hub: PublicHub) -> None:
    raise_alarms(hub)
    for path in ("/public/", "/public"):
        reply = Client(hub.base).get(path)
        assert reply.status == 200 and reply.headers["Content-Type"] == "text/html; charset=utf-8"
        page: str = reply.body
        assert page.startswith('<!doctype html><html lang="vi">')
        assert "Cấp 2 · vàng nhạt" in page and "Lũ sông Hồng tại Hà Nội (Long Biên): cấp 2" in page
        assert "Sông Hồng tại Hà Nội (Long Biên): 10.70 m, BĐ2 (10.50 m)" in page
        assert "10,70 m ↑ lên" in page and "BĐ1 9,50 m · BĐ2 10,50 m · BĐ3 11,50 m" in page
        assert "Dự kiến mở cửa xả lúc 14:00 01/06/2030 · lưu lượng 1.234 m³/s" in page  # 07:00 UTC is 14:00 in Vietnam
        # Nothing fetched from anywhere: no src, no link but the empty data: icon, no url() in the style sheet.
        assert not re.search(r"\ssrc=|url\(|@import|https?://", page)
        assert re.findall(r"href=\"([^\"]*)\"", page) == ["data:,"]
        csp = reply.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe-inline" not in csp
        assert "Cảnh báo đang có hiệu lực (1)" in page
        # The technicians' alarms, by their names and their messages.
        for absent in ("Trạm đo mất kết nối", "ngừng gửi dữ liệu", "không gửi số liệu", "offline lúc", "officer-1"):
            assert absent not in page, absent
        for absent in (RESPONSIBLE, PLANNER, "UBND"):
            assert absent not in page, absent


def test_message_text_is_escaped() -> None:
    alarm = Alarm(
        id="x",
        rule="camera_fire",
        subject="thap-1",
        area="01",
        severity=Severity.MAJOR,
        state=AlarmState.ACTIVE_UNACK,
        message="<script>alert(1)</script> & khói",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    status = public_page.build_status(RuleTables(), [alarm], {}, datetime(2026, 1, 1, 1, tzinfo=UTC))
    page = public_page.render_page(status)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; khói" in page
    assert page.count("<script>") == 1  # the page's own


def test_without_an_engine_the_page_says_so() -> None:
    status = public_page.build_status(None, [], {}, datetime(2026, 1, 1, tzinfo=UTC))
    assert status.available is False and status.alarms == [] and status.stations == []
    assert "chưa bật hệ thống cảnh báo" in public_page.render_page(status)


def test_the_routes_are_open_and_described(hub: PublicHub) -> None:
    assert [(r.method, r.path, r.role) for r in hub.routes] == [
        ("GET", "/public/status.json", None),
        ("GET", "/public/", None),
        ("GET", "/public", None),
    ]
    doc = openapi.build(hub.routes)
    assert "/public/status.json" in doc["paths"]


def province(n_stations: int = 40, n_warnings: int = 30) -> tuple[RuleTables, list[Alarm], dict[str, Any], datetime]:
    """A realistic province at the height of a flood: long Vietnamese names, every station reporting, ``n_warnings``
    flood warnings spread over communes (each with its risk level), a release announced."""
    now = datetime(2026, 10, 20, 3, 0, tzinfo=UTC)
    stations = [
        FloodStation(
            station_id=f"tram-{i:02d}",
            node_id=f"node-{i:02d}",
            sensor_id="stage",
            river=f"Thu Bồn nhánh {i}",
            name=f"Trạm thủy văn Nông Sơn - Giao Thủy số {i}",
            province="Thành phố Đà Nẵng",
            bd1_m=8.0,
            bd2_m=10.0,
            bd3_m=12.0,
            source="QĐ 05/2020/QĐ-TTg",
            zone=3,
        )
        for i in range(n_stations)
    ]
    tables = RuleTables(flood=FloodStationTable(stations=stations))
    state: dict[str, Any] = {}
    alarms: list[Alarm] = []
    for i, s in enumerate(stations):
        t = int(now.timestamp() * 1000)
        samples = {str(t - k * 600_000): 9.0 + i * 0.05 - k * 0.02 for k in range(18)}
        level = 3 if i < n_warnings // 3 else 2 if i < n_warnings else 0
        state[f"flood:{s.station_id}"] = {"level": level, "last_ms": t, "samples": samples}
        if i >= n_warnings:
            continue
        area = f"{20300 + i:05d}"
        common = {
            "area": area,
            "state": AlarmState.ACTIVE_UNACK,
            "started_at": now - timedelta(hours=5),
            "updated_at": now,
        }
        alarms.append(
            Alarm(
                id=f"f{i}",
                rule="flood_level",
                subject=s.station_id,
                severity=Severity.CRITICAL if level == 3 else Severity.MAJOR,
                level=level,
                value=11.2,
                message=f"Sông {s.river} tại {s.name}: 12.34 m, BĐ{level} (12.00 m)",
                **common,
            )
        )
        alarms.append(
            Alarm(
                id=f"r{i}",
                rule="disaster_risk",
                subject=area,
                severity=Severity.MINOR,
                level=level,
                message=f"Cấp độ rủi ro thiên tai {level}",
                details={"hazards": {f"flood:{s.station_id}": level, f"rain:mua-{i}": 2}},
                **common,
            )
        )
    return tables, alarms, state, now


def test_page_fits_the_size_budget() -> None:
    tables, alarms, state, now = province()
    status = public_page.build_status(tables, alarms, state, now)
    assert (len(status.areas), len(status.alarms), len(status.stations)) == (30, 30, 40)
    page = public_page.render_page(status).encode("utf-8")
    assert len(page) < 100_000, f"{len(page)} bytes"
    assert len(gzip.compress(page)) < 15_000
    assert len(status.model_dump_json().encode()) < 100_000


pytestmark_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)


@pytestmark_chromium
def test_page_on_a_throttled_phone(hub: PublicHub) -> None:
    from playwright.sync_api import expect, sync_playwright

    raise_alarms(hub)
    url = f"{hub.base}/public/?refresh_ms=1000"
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            # JS off: everything is in the HTML itself.
            still = browser.new_context(viewport=PHONE, java_script_enabled=False)
            plain = still.new_page()
            plain.goto(url)
            expect(plain.locator(".alarms")).to_contain_text("Sông Hồng tại Hà Nội (Long Biên): 10.70 m, BĐ2")
            server_rendered = plain.locator("#status").inner_html()
            still.close()

            context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
            cdp.send("Network.emulateNetworkConditions", FAST_3G)
            page.goto(url)

            warning = page.locator(".alarms .item").first
            expect(warning).to_be_visible()
            expect(warning).to_contain_text("Sông Hồng tại Hà Nội (Long Biên): 10.70 m, BĐ2 (10.50 m)")
            badge = page.locator(".areas .badge").first
            expect(badge).to_have_text("Cấp 2 · vàng nhạt")  # colour and text, never colour alone
            r, g, b = (int(risk_colour(2).hex[i : i + 2], 16) for i in (1, 3, 5))
            expect(badge).to_have_css("background-color", f"rgb({r}, {g}, {b})")
            # One column on a 360 px phone: nothing wider than the screen.
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert page.evaluate("performance.getEntriesByName('first-contentful-paint').length") == 1

            # The refresh rebuilds exactly what the hub rendered.
            expect(page.locator("body")).to_have_attribute("data-refreshed", "1")
            assert page.locator("#status").inner_html() == server_rendered
            expect(page.locator("#updated")).to_contain_text("Cập nhật lúc")

            # A new reading shows without a reload: BĐ3, risk level 3.
            hub.stage(11.6, datetime.now(UTC).replace(microsecond=0))
            expect(page.locator(".stations .badge").first).to_have_text("BĐ3", timeout=10_000)
            expect(page.locator(".areas .badge").first).to_have_text("Cấp 3 · da cam")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            context.close()
        finally:
            browser.close()
    assert problems == [], "no console errors (CSP violations, script errors)"


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        ("gzip, deflate, br, zstd", True),
        ("deflate;q=1, gzip;q=0.5", True),
        ("*", True),
        ("*;q=0, gzip", True),
        ("", False),
        ("identity", False),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("gzip;q=oops", False),
    ],
)
def test_gzip_only_when_accepted(header: str, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok
