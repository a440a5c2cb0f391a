"""The situation views (rivers, reservoirs, forest fire, rain) against a real InfluxDB fed as the hub feeds it: readings
written through the v1 write API in the ingest's line layout, the engine's derived points written back as the hub's
writer does, a forecast as the forecast job stores it; then the API's figures and the page in headless Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from hub.alerts.config import AlertsConfig, RuleTables, load_rule_tables
from hub.alerts.engine import AlertEngine
from hub.alerts.evaluate.base import Observation
from hub.alerts.rules.base import LOCAL_TZ
from hub.alerts.rules.flood_levels import FloodStation, FloodStationTable
from hub.alerts.rules.nesterov import daily_term
from hub.alerts.store import AlertStore
from hub.alerts.threshold_overrides import RuleManager, ThresholdStore
from hub.api import situation
from hub.api.app import make_app
from hub.api.auth import ApiSettings, Role
from hub.api.situation_series import Recent
from hub.config import HubInflux
from hub.forecast.base import Forecast, ForecastPoint
from hub.forecast.store import forecast_lines
from hub.metrics import Metrics
from hub.store.influx import InfluxWriter, Outcome
from hub.store.influx_query import InfluxReader
from hub.store.line_protocol import line
from hub.store.state import HubState, NodeInfo
from testkit.browser import CHROMIUM, MISSING, chromium_page
from tests.hub.api.support import TOKENS, Client, Pipeline, ServerThread, api_section

if TYPE_CHECKING:
    from playwright.sync_api import Page

DB = "situation"


def station(sid: str, name: str, river: str, node: str | None, bd: tuple[float, float, float], **more: Any) -> dict:
    return {
        "station_id": sid,
        "name": name,
        "river": river,
        "province": "Thành phố Huế",
        "node_id": node,
        "sensor_id": "stage" if node else None,
        "bd1_m": bd[0],
        "bd2_m": bd[1],
        "bd3_m": bd[2],
        "source": "QĐ 05/2020/QĐ-TTg",
        **more,
    }


# Current level, m/h over the last hours: one station above BĐ3, one above BĐ2 and rising, one below BĐ1 and falling,
# one with no gauge at all.
STATIONS = [
    station("huong-kim-long", "Kim Long", "Hương", "river-kimlong-01", (1.0, 2.0, 3.5)),
    station("hong-long-bien", "Hà Nội (Long Biên)", "Hồng", "river-longbien-01", (9.5, 10.5, 11.5)),
    station("thu-bon-cau-lau", "Câu Lâu", "Thu Bồn", "river-caulau-01", (2.0, 3.0, 4.0), historical_peak_m=5.0),
    station("bo-phu-oc", "Phú Ốc", "Bồ", None, (1.5, 2.5, 3.5)),
]
NOW_LEVEL = {"river-kimlong-01": (2.3, 0.1), "river-longbien-01": (9.0, -0.05), "river-caulau-01": (4.2, 0.0)}
RESERVOIR = {
    "reservoir_id": "ta-trach",
    "name": "Tả Trạch",
    "province": "Thành phố Huế",
    "node_id": "reservoir-tatrach-01",
    "source": "Quy trình vận hành (minh hoạ)",
    "dead_level_m": 23.0,
    "pre_flood_level_m": 38.0,
    "normal_level_m": 45.0,
    "design_flood_level_m": 50.0,
    "check_flood_level_m": 53.0,
    "release": {"warning_lead_time": "PT4H", "signal": "Còi hú", "procedure": "QĐ 1234/QĐ-UBND (minh hoạ)"},
}
NESTEROV = {"province": "Thành phố Huế", "source": "TT 25/2019/TT-BNNPTNT Điều 8"}


def alerts_config(directory: Path) -> AlertsConfig:
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "flood.yaml": {"stations": STATIONS},
        "reservoirs.yaml": {"reservoirs": [RESERVOIR]},
        "nesterov.yaml": NESTEROV,
    }
    for name, body in files.items():
        (directory / name).write_text(yaml.safe_dump(body, allow_unicode=True), "utf-8")
    return AlertsConfig.model_validate(
        {
            "flood_stations": str(directory / "flood.yaml"),
            "reservoirs": str(directory / "reservoirs.yaml"),
            "nesterov_files": [str(directory / "nesterov.yaml")],
            "fire_areas": [
                {
                    "area_id": "bach-ma",
                    "area": "46",
                    "nesterov": "Thành phố Huế",
                    "temperature": {"node_id": "wx-bachma-01", "sensor_id": "t"},
                    "humidity": {"node_id": "wx-bachma-01", "sensor_id": "rh"},
                }
            ],
            "rain_gauges": [
                {"gauge_id": "mua-kim-long", "node_id": "river-kimlong-01", "sensor_id": "rain"},
                {"gauge_id": "mua-a-luoi", "node_id": "rain-aluoi-01", "sensor_id": "rain", "area": "46"},
            ],
            "freshness": {"enabled": False},
        }
    )


class SituationHub:
    """The API with a real engine and rule tables of its own (stations, a reservoir, a fire area, rain gauges)."""

    def __init__(self, tmp_path: Path, influx_url: str | None) -> None:
        data = tmp_path / "data"
        self.state = HubState(data / "hub.db")
        self.state.register(
            [
                NodeInfo("river-kimlong-01", "Trạm Kim Long", "46"),
                NodeInfo("reservoir-tatrach-01", "Hồ Tả Trạch", "46"),
                NodeInfo("wx-bachma-01", "Khí tượng Bạch Mã", "46"),
            ]
        )
        config = alerts_config(tmp_path / "rules")
        self.rules = RuleManager(lambda: load_rule_tables(config), ThresholdStore(data / "alerts.db"))
        self.engine = AlertEngine(
            config, self.rules.current, AlertStore(data / "alerts.db"), areas={"wx-bachma-01": "46"}, intervals={}
        )
        self.rules.bind(self.engine.load)
        self.alert_store = AlertStore(data / "alerts.db")
        reader = (lambda: InfluxReader(influx_url, DB)) if influx_url else None
        app = make_app(
            Pipeline(),
            Metrics(),
            self.state,
            300.0,
            engine=self.engine,
            alerts=self.alert_store,
            rules=self.rules,
            auth=ApiSettings.model_validate(api_section()),
            influx=reader,
        )
        self.server = ServerThread(app).start()
        self.base = f"http://127.0.0.1:{self.server.port}"

    def client(self, role: Role = Role.VIEWER) -> Client:
        return Client(self.base).as_(role)

    def close(self) -> None:
        self.server.stop()
        self.state.close()
        self.engine.store.close()
        self.rules.store.close()
        self.alert_store.close()


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def reading(quantity: str, node: str, sensor: str, value: float, ts: datetime, quality: str = "good") -> str:
    """One reading in the ingest's layout (hub/ingest/processor.py): measurement per quantity, node and sensor tags."""
    tags = {"admin_code": "46", "node_id": node, "sensor_id": sensor}
    return line(quantity, tags, {"value": float(value), "quality": quality, "seq": 1}, ms(ts))


def feed(influx_url: str, hub: SituationHub, now: datetime) -> None:
    """Four hours of river levels, 30 h of rain, a reservoir's level and flows, yesterday's 13:00 weather through
    the engine (its fire_danger point stored as the hub stores it), a forecast for Kim Long."""
    lines: list[str] = []
    for node, (level, rate) in NOW_LEVEL.items():
        for k in range(25):  # every 10 minutes, the newest a minute ago
            ts = now - timedelta(minutes=1 + 10 * k)
            lines.append(reading("water_level", node, "stage", level - rate * (1 + 10 * k) / 60, ts))
    # A reading quality control refused is never the current level.
    lines.append(reading("water_level", "river-kimlong-01", "stage", 99.0, now - timedelta(seconds=20), "bad"))
    for k in range(60):  # 5 mm every 30 minutes: 10 mm in 1 h, 30 in 3 h, 120 in 12 h, 240 in 24 h, 300 in 72 h
        lines.append(reading("rainfall", "river-kimlong-01", "rain", 5.0, now - timedelta(minutes=1 + 30 * k)))
    lines.append(reading("rainfall", "rain-aluoi-01", "rain", 2.5, now - timedelta(hours=2)))
    for k in range(7):
        ts = now - timedelta(minutes=1 + 10 * k)
        lines.append(reading("reservoir_level", "reservoir-tatrach-01", "level", 47.2 - 0.002 * k, ts))
    lines.append(reading("inflow", "reservoir-tatrach-01", "q_in", 850.0, now - timedelta(minutes=5)))
    lines.append(reading("outflow", "reservoir-tatrach-01", "q_out", 400.0, now - timedelta(minutes=5)))
    yesterday_13 = datetime.combine((now.astimezone(LOCAL_TZ) - timedelta(days=1)).date(), datetime.min.time())
    t13 = yesterday_13.replace(hour=13, tzinfo=LOCAL_TZ).astimezone(UTC)
    weather = [Observation("wx-bachma-01", "t", "temperature", t13, 40.0)]
    weather.append(Observation("wx-bachma-01", "rh", "humidity", t13, 10.0))
    lines += hub.engine.process(weather, now=t13)
    issued = now - timedelta(minutes=10)
    points = tuple(
        ForecastPoint(issued + timedelta(hours=h), h, 2.3 + 0.15 * h, 2.2 + 0.1 * h, 2.4 + 0.2 * h) for h in range(1, 7)
    )
    lines += forecast_lines(Forecast("huong-kim-long", issued, "model", "regression", points), "river")
    writer = InfluxWriter(HubInflux(url=influx_url, database=DB, gzip=False))
    try:
        assert writer.write_once("\n".join(lines).encode()).outcome is Outcome.WRITTEN
    finally:
        writer.close()


@pytest.fixture
def fed_hub(tmp_path: Path, influx) -> Iterator[SituationHub]:
    hub = SituationHub(tmp_path, influx.url)
    feed(influx.url, hub, datetime.now(UTC))
    put = hub.client(Role.HYDROLOGY).put(
        "/api/reservoirs/ta-trach/release",
        {"planned_open": "2030-01-02T08:00:00+07:00", "release_m3s": 1200, "comment": "lệnh vận hành số 7"},
    )
    assert put.status == 200, put.body
    yield hub
    hub.close()


# -- the API's figures ------------------------------------------------------------------------------------------
def test_rivers_worst_first_with_level_trend_and_level_reached(fed_hub):
    body = fed_hub.client().get("/api/situation/rivers").body
    assert body["series"] == "ok" and body["count"] == 4
    by_id = {s["station_id"]: s for s in body["stations"]}
    # Worst first: above BĐ3, above BĐ2, below BĐ1; the station without a gauge last.
    assert [s["station_id"] for s in body["stations"]] == [
        "thu-bon-cau-lau",
        "huong-kim-long",
        "hong-long-bien",
        "bo-phu-oc",
    ]
    kim_long = by_id["huong-kim-long"]
    assert kim_long["level_m"] == 2.3  # the "bad" 99 m reading a second later is not the current level
    assert kim_long["trend_m_per_h"] == pytest.approx(0.1, abs=0.002)
    assert (kim_long["trend_vi"], kim_long["reached"], kim_long["reached_vi"]) == ("lên", 2, "Trên BĐ2")
    long_bien = by_id["hong-long-bien"]
    assert (long_bien["level_m"], long_bien["trend_vi"], long_bien["reached_vi"]) == (9.0, "xuống", "Dưới BĐ1")
    assert long_bien["trend_m_per_h"] == pytest.approx(-0.05, abs=0.002)
    cau_lau = by_id["thu-bon-cau-lau"]
    assert (cau_lau["trend_vi"], cau_lau["reached_vi"]) == ("đứng", "Trên BĐ3")
    assert by_id["bo-phu-oc"]["level_m"] is None and by_id["bo-phu-oc"]["bd_m"] == [1.5, 2.5, 3.5]


def test_river_detail_has_72h_means_and_the_forecast(fed_hub):
    client = fed_hub.client()
    body = client.get("/api/situation/rivers/huong-kim-long").body
    assert body["station"]["reached_vi"] == "Trên BĐ2" and body["station"]["bd_m"] == [1.0, 2.0, 3.5]
    assert (body["station"]["next_level"], body["station"]["margin_m"]) == (3, 1.2)  # 1.2 m still to rise to BĐ3
    measured = body["measured"]
    # 25 readings 10 minutes apart: one per 10-minute mean (24 or 25, as the buckets fall), rising to 2.3 m.
    assert 24 <= len(measured["t"]) <= 26 and len(measured["t"]) == len(measured["v"])
    assert all(b - a == 600 for a, b in pairwise(measured["t"]))
    assert max(measured["v"]) == pytest.approx(2.3, abs=0.02) and 99.0 not in measured["v"]
    forecast = body["forecast"]
    assert (forecast["source"], forecast["method"], len(forecast["t"])) == ("model", "regression", 6)
    assert forecast["method_vi"] == "hồi quy"
    assert forecast["level_m"][-1] == pytest.approx(3.2) and forecast["upper_m"][-1] == pytest.approx(3.6)
    assert client.get("/api/situation/rivers/no-such-station").status == 404
    empty = client.get("/api/situation/rivers/bo-phu-oc").body
    assert empty["measured"] == {"t": [], "v": []} and empty["forecast"] is None


def test_reservoir_level_against_named_levels_flows_and_release(fed_hub):
    (r,) = fed_hub.client().get("/api/situation/reservoirs").body["reservoirs"]
    assert (r["name"], r["level_m"], r["band_vi"]) == ("Tả Trạch", 47.2, "Trên mực nước dâng bình thường")
    assert [(x["name_vi"], x["reached"]) for x in r["levels"]] == [
        ("Mực nước chết", True),
        ("Mực nước trước lũ", True),
        ("Mực nước dâng bình thường", True),
        ("Mực nước lớn nhất thiết kế", False),
        ("Mực nước lớn nhất kiểm tra", False),
    ]
    assert (r["inflow_m3s"], r["outflow_m3s"]) == (850.0, 400.0)
    release = r["release"]
    assert release["release_m3s"] == 1200 and release["by"] == "hydrology-1" and release["signal"] == "Còi hú"
    assert datetime.fromisoformat(release["planned_open"]) - datetime.fromisoformat(release["warn_by"]) == timedelta(
        hours=4
    )


def test_fire_area_level_and_nesterov_index(fed_hub):
    (area,) = fed_hub.client().get("/api/situation/fire").body["areas"]
    p = daily_term(40.0, 10.0)  # one dry day at 40 °C and 10 % after none: P is that day's term, level III
    assert area["p"] == round(p) and 2500 < p <= 5000
    assert (area["level"], area["level_roman"], area["level_vi"]) == (3, "III", "Cấp cao")
    assert area["area_name"] == "Thành phố Huế" and area["province"] == "Thành phố Huế"


def test_rain_accumulations_and_band_per_gauge(fed_hub):
    body = fed_hub.client().get("/api/situation/rain").body
    kim_long, a_luoi = body["gauges"]  # most 24 h rain first
    sums = [kim_long[f"acc_{h}h_mm"] for h in (1, 3, 12, 24, 72)]
    assert sums == [10.0, 30.0, 120.0, 240.0, 300.0]
    assert kim_long["name"] == "Trạm Kim Long" and kim_long["area_name"] == "Thành phố Huế"
    assert kim_long["band"] == 2 and kim_long["band_vi"].startswith("Mưa lớn dải 2: trên 200 mm/24 giờ")
    # A gauge whose node the registry does not name is called by its gauge id; its area is its own setting.
    assert (a_luoi["name"], a_luoi["acc_1h_mm"], a_luoi["acc_3h_mm"], a_luoi["band"]) == ("mua-a-luoi", 0.0, 2.5, 0)


# -- through a real hub ------------------------------------------------------------------------------------------
def test_readings_from_an_edge_node_reach_the_rivers_list_through_a_real_hub(tmp_path, make_hub, make_node):
    """The layout the API reads is the one the ingest writes: an edge agent's readings over MQTT, stored by the hub,
    read back through the hub's own InfluxDB reader."""
    from tests.hub.api.support import write_rules
    from tests.support.wait import wait_until
    from wire import Reading

    hub = make_hub(alerts=write_rules(tmp_path / "rules"), api=api_section())
    api = Client(f"http://127.0.0.1:{hub.http_port}").as_(Role.VIEWER)
    node = make_node("river-longbien-01")
    now = datetime.now(UTC)
    readings = [
        Reading(
            sensor_id="stage",
            quantity="water_level",
            value=9.3 + 0.1 * k,
            unit="m",
            ts=now - timedelta(minutes=50 - 10 * k),
        )
        for k in range(6)
    ]
    node.call(lambda a: a.record(readings))

    def stored() -> dict | None:
        detail = api.get("/api/situation/rivers/hong-long-bien").body
        return detail if len(detail["measured"]["v"]) == 6 else None

    detail = wait_until(stored, what="the six readings stored")
    assert detail["measured"]["v"][-1] == 9.8

    # The list is one answer shared by every page and recomputed every few seconds (hub/api/shared_answer.py): an
    # answer computed before the last readings were stored may be served a moment longer.
    def long_bien() -> dict | None:
        body = api.get("/api/situation/rivers").body
        row = body["stations"][0]
        complete = body["series"] == "ok" and row["level_m"] == 9.8 and row["trend_m_per_h"] > 0.55
        return row if complete else None

    row = wait_until(long_bien, what="Long Biên's newest level and its 3 h trend in the rivers list")
    assert (row["reached_vi"], row["trend_vi"]) == ("Trên BĐ1", "lên")
    assert row["trend_m_per_h"] == pytest.approx(0.6, abs=0.05)


# -- the heavy-rain alarm's words ----------------------------------------------------------------------------------
def test_a_rain_alarm_names_the_gauge_after_its_node_not_its_id(tmp_path):
    """Through the engine, as hub.service builds it: the registry's node names reach the rain rule."""
    from hub.alerts.config import AlertsConfig, RuleTables
    from hub.alerts.engine import AlertEngine
    from hub.alerts.store import AlertStore

    gauges = [
        {"gauge_id": "river-kimlong-01", "node_id": "river-kimlong-01", "sensor_id": "rain"},
        {"gauge_id": "mua-a-luoi", "node_id": "rain-aluoi-01", "sensor_id": "rain"},
    ]
    config = AlertsConfig.model_validate({"rain_gauges": gauges, "freshness": {"enabled": False}})
    store = AlertStore(tmp_path / "alerts.db")
    engine = AlertEngine(
        config, RuleTables(), store, areas={}, intervals={}, names={"river-kimlong-01": "Trạm Kim Long"}
    )
    try:
        t = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
        engine.process([Observation("river-kimlong-01", "rain", "rainfall", t, 80.0)], now=t)
        engine.process([Observation("rain-aluoi-01", "rain", "rainfall", t, 80.0)], now=t)
        messages = {a.subject: a.message for a in engine.active()}
        assert messages["river-kimlong-01"] == "Mưa lớn tại Trạm Kim Long: 80 mm/12 h, 80 mm/24 h, cấp 1"
        # A node without a name: the gauge's id, not the node's.
        assert messages["mua-a-luoi"].startswith("Mưa lớn tại mua-a-luoi:")
    finally:
        store.close()


# -- without InfluxDB, and at scale ------------------------------------------------------------------------------
def test_without_influx_every_view_lists_what_is_configured(tmp_path):
    hub = SituationHub(tmp_path, None)
    try:
        client = hub.client()
        rivers = client.get("/api/situation/rivers").body
        assert rivers["series"] == "not_configured" and "InfluxDB" in rivers["note"]
        assert [s["level_m"] for s in rivers["stations"]] == [None] * 4
        assert client.get("/api/situation/rivers/huong-kim-long").body["measured"]["t"] == []
        assert client.get("/api/situation/reservoirs").body["reservoirs"][0]["band"] is None
        assert client.get("/api/situation/fire").body["areas"][0]["level"] is None
        assert [g["acc_24h_mm"] for g in client.get("/api/situation/rain").body["gauges"]] == [None, None]
        assert client.as_(None).get("/api/situation/rivers").status == 401
    finally:
        hub.close()


def test_the_rivers_list_of_500_stations_stays_small():
    now = datetime.now(UTC)
    stations = [
        FloodStation.model_validate(
            station(f"thu-bon-tram-{i:03d}", f"Trạm Câu Lâu {i}", "Thu Bồn", f"river-node-{i:03d}", (5.0, 6.0, 7.0))
        )
        for i in range(500)
    ]
    means = [(ms(now) - k * 600_000, 5.5) for k in range(18)]
    recent = {(s.node_id or "", "stage"): Recent(ms(now), 6.25, means) for s in stations}
    tables = RuleTables(flood=FloodStationTable(stations=stations))
    out = situation.rivers_out(tables, recent)
    body = situation.RiverList(series="ok", count=len(out), stations=out).model_dump_json()
    assert len(body.encode()) < 120_000, len(body.encode())
    assert json.loads(body)["stations"][0]["reached_vi"] == "Trên BĐ2"


# -- the page ------------------------------------------------------------------------------------------------------
@contextmanager
def officer_page(hub: SituationHub, tmp_path: Path, hash_: str, width: int = 1400) -> Iterator[Page]:
    from playwright.sync_api import expect

    with chromium_page(tmp_path / "chromium-profile", width, 900) as (page, problems):
        page.goto(f"{hub.base}/?refresh_ms=300#{hash_}")
        page.fill("#token", TOKENS[Role.OFFICER])
        page.click("#login-form button")
        expect(page.locator("#who-name")).to_have_text("officer-1 (officer)")
        yield page
    assert problems == [], "no console errors"


def canvas_drawn(page: Page) -> bool:
    """Any painted pixel on the chart's canvas."""
    return page.locator("#situation-chart canvas").evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0)"
    )


@pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)
def test_page_rivers_worst_first_and_the_station_chart_with_its_bd_lines(fed_hub, tmp_path):
    from playwright.sync_api import expect

    with officer_page(fed_hub, tmp_path, "situation/rivers/huong-kim-long") as page:
        rows = page.locator("#situation-rivers-table tbody tr")
        expect(rows).to_have_count(4)
        expect(rows.locator("td.name")).to_have_text(["Câu Lâu", "Kim Long", "Hà Nội (Long Biên)", "Phú Ốc"])
        expect(rows.nth(1).locator("td.reached")).to_have_text("Trên BĐ2")
        expect(rows.nth(1).locator("td.trend")).to_contain_text("lên")
        expect(rows.nth(2).locator("td.trend")).to_contain_text("xuống")
        expect(rows.nth(3).locator("td.level")).to_have_text("Chưa có số liệu")
        # The shared link opened the station: its chart, BĐ lines labelled with their values, and the forecast.
        chart = page.locator("#situation-chart")
        expect(chart.locator("h3")).to_have_text("Sông Hương tại Kim Long")
        expect(chart.locator(".bd-legend li")).to_have_text(
            ["BĐ1: 1,00 m (nét đứt)", "BĐ2: 2,00 m (nét đứt)", "BĐ3: 3,50 m (nét đứt)"]
        )
        labels = chart.locator(".u-legend .u-series th")
        expect(labels).to_contain_text(["Mực nước đo", "BĐ1", "BĐ2", "BĐ3", "Dự báo"])
        expect(chart.locator(".forecast-note")).to_contain_text("Dự báo của hệ thống (hồi quy)")
        page.wait_for_function("() => document.querySelector('#situation-chart canvas') !== null")
        assert canvas_drawn(page)
        # Another station from the list: the same chart area, now for it.
        rows.nth(0).locator("td.name a").click()
        expect(chart.locator("h3")).to_have_text("Sông Thu Bồn tại Câu Lâu")
        expect(page).to_have_url(f"{fed_hub.base}/?refresh_ms=300#situation/rivers/thu-bon-cau-lau")
        expect(chart.locator(".bd-legend li")).to_have_text(
            ["BĐ1: 2,00 m (nét đứt)", "BĐ2: 3,00 m (nét đứt)", "BĐ3: 4,00 m (nét đứt)", "Lũ lịch sử: 5,00 m (chấm)"]
        )
        # A shared link to a station no longer in the table says so (and the page logs no error for it).
        page.evaluate("() => { location.hash = '#situation/rivers/da-bo'; }")
        expect(chart.locator("h3")).to_have_text("Không tìm thấy trạm")
        expect(chart.locator("canvas")).to_have_count(0)


@pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)
def test_page_reservoirs_fire_and_rain_at_phone_width(fed_hub, tmp_path):
    from playwright.sync_api import expect

    with officer_page(fed_hub, tmp_path, "situation/reservoirs", width=375) as page:
        card = page.locator('#situation-reservoirs [data-reservoir-id="ta-trach"]')
        expect(card.locator(".band")).to_have_text("Trên mực nước dâng bình thường")
        expect(card.locator(".level-now")).to_contain_text("47,20 m")
        expect(card.locator(".named-levels li")).to_have_count(5)
        expect(card.locator(".named-levels li").nth(2)).to_contain_text("Mực nước dâng bình thường: 45,00 m")
        expect(card.locator(".named-levels li").nth(2)).to_contain_text("đã vượt")
        expect(card.locator(".named-levels li").nth(3)).to_contain_text("chưa tới")
        expect(card.locator(".flows")).to_contain_text("850")
        expect(card.locator(".release")).to_contain_text("1.200 m³/s")

        page.click('#situation-tabs a[data-sub="fire"]')
        row = page.locator('#situation-fire tr[data-area-id="bach-ma"]')
        expect(row.locator(".level")).to_have_text("Cấp III · Cấp cao")
        expect(row.locator(".p")).to_have_text(f"{round(daily_term(40.0, 10.0)):,}".replace(",", "."))
        expect(row.locator(".name")).to_have_text("Thành phố Huế")

        page.click('#situation-tabs a[data-sub="rain"]')
        expect(page).to_have_url(f"{fed_hub.base}/?refresh_ms=300#situation/rain")
        gauge = page.locator('#situation-rain tr[data-gauge-id="mua-kim-long"]')
        expect(gauge.locator(".name")).to_have_text("Trạm Kim Long")
        expect(gauge.locator(".acc-24")).to_have_text("240,0")
        expect(gauge.locator(".band")).to_contain_text("Mưa lớn dải 2")
        # Nothing wider than a phone: the tables scroll inside their own box.
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, width
