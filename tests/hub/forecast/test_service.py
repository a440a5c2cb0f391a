"""The forecast job against a real InfluxDB: hourly means of good readings, fits and forecasts for stations and
reservoirs, the official forecast preferred, warnings through the real engine, one station's trouble contained, and
the schedule."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.alerts.config import AlertsConfig, RuleTables
from hub.alerts.engine import AlertEngine
from hub.alerts.evaluate.base import Observation
from hub.alerts.rules.dam_safety import ReservoirTable
from hub.alerts.rules.flood_levels import FloodStation, FloodStationTable
from hub.alerts.store import AlertStore
from hub.config import HubInflux
from hub.feeds.sink import InfluxSink
from hub.forecast.base import HOUR, Forecast, ForecastPoint
from hub.forecast.config import ForecastConfig, ReservoirForecastConfig, StationForecastConfig
from hub.forecast.service import ForecastJob, hourly_series, open_forecast_job
from hub.forecast.store import forecast_lines, latest_forecasts, to_ms
from hub.store.line_protocol import line
from testkit.localsvc import InfluxDB
from tests.support.stations import RESERVOIR, flood_station

pytestmark = pytest.mark.services

NOW = datetime.now(UTC).replace(minute=5, second=0, microsecond=0) - timedelta(days=1)
ISSUED = NOW.replace(minute=0)
DAYS = 12


def station(sid: str, node: str, **kw: Any) -> FloodStation:
    return flood_station(sid, node, **kw)


TABLES = RuleTables(
    flood=FloodStationTable(stations=[station("huong-kim-long", "river-kimlong-01"), station("bo-phu-oc", "river-po")]),
    reservoirs=ReservoirTable(reservoirs=[RESERVOIR]),
)
CONFIG = ForecastConfig(
    stations=[
        StationForecastConfig(station_id="huong-kim-long", history_days=DAYS, min_history_h=240),
        StationForecastConfig(station_id="bo-phu-oc", history_days=DAYS, min_history_h=240),  # no readings at all
        StationForecastConfig(station_id="not-in-the-table", history_days=DAYS, min_history_h=240),
    ],
    reservoirs=[
        ReservoirForecastConfig(
            reservoir_id="reservoir-001",
            storage_curve=[(10.0, 0.0), (29.0, 196.58e6), (32.5, 300.0e6), (36.0, 430.62e6)],
            level_node_id="reservoir-001",
            level_sensor_id="level",
        )
    ],
    horizon_h=12,
)


def reading(measurement: str, node: str, sensor: str, t: datetime, value: float, quality: str = "good") -> str:
    tags = {"admin_code": "46", "node_id": node, "sensor_id": sensor}
    return line(measurement, tags, {"value": value, "quality": quality}, to_ms(t))


def tide(t: datetime) -> float:
    """A river at Kim Long: a daily swing around 0.6 m, never near BĐ1 on its own."""
    return 0.6 + 0.2 * math.sin(2 * math.pi * t.timestamp() / 86400)


@pytest.fixture
def db(influx: InfluxDB) -> InfluxSink:
    sink = InfluxSink(HubInflux(url=influx.url, database="iocgw", timeout_s=5.0), retry_budget_s=1.0)
    lines = []
    t = ISSUED - timedelta(days=DAYS + 1)
    while t < NOW:
        lines.append(reading("water_level", "river-kimlong-01", "stage", t, tide(t)))
        lines.append(reading("water_level", "river-kimlong-01", "stage", t + timedelta(minutes=7), 9.9, "bad"))
        t += timedelta(minutes=30)
    for k in range(1, 7):  # the reservoir's last hours: filling, 600 m³/s in, 200 m³/s out
        t = ISSUED - k * HOUR + timedelta(minutes=30)
        lines.append(reading("reservoir_level", "reservoir-001", "level", t, 32.0))
        lines.append(reading("inflow", "reservoir-001", "inflow", t, 600.0))
        lines.append(reading("outflow", "reservoir-001", "outflow", t, 200.0))
    sink.write(lines)
    return sink


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[Forecast]] = []

    def forecasts(self, forecasts: Any, now: datetime | None = None) -> list[str]:
        self.calls.append(list(forecasts))
        return []


def test_hourly_means_use_only_good_readings_and_end_at_the_labelled_hour(db: InfluxSink) -> None:
    where = {"node_id": "river-kimlong-01", "sensor_id": "stage"}
    series = hourly_series(db, "water_level", where, ISSUED - 3 * HOUR, ISSUED)
    assert series.start == ISSUED - 3 * HOUR and len(series.values) == 4
    for i, v in enumerate(series.values):
        hour = series.time_at(i)
        expected = (tide(hour - HOUR) + tide(hour - timedelta(minutes=30))) / 2  # [t - 1 h, t), bad ones left out
        assert v == pytest.approx(expected)
    empty = hourly_series(db, "water_level", {"node_id": "river-po", "sensor_id": "stage"}, ISSUED - HOUR, ISSUED)
    assert all(math.isnan(v) for v in empty.values)


def test_a_run_fits_forecasts_stores_and_hands_over_one_forecast_per_station(db: InfluxSink) -> None:
    engine = Recorder()
    job = ForecastJob(CONFIG, lambda: TABLES, db, engine)
    summary = job.run_once(NOW)

    assert summary.issued == ISSUED
    assert summary.refitted == ["huong-kim-long"]
    assert set(summary.errors) == {"bo-phu-oc", "not-in-the-table"}
    assert "history" in summary.errors["bo-phu-oc"]
    assert "not-in-the-table" in summary.errors["not-in-the-table"]
    stored = latest_forecasts(db, "model", NOW, timedelta(hours=2))
    assert set(stored) == {"huong-kim-long", "reservoir-001"}
    river, reservoir = stored["huong-kim-long"], stored["reservoir-001"]
    assert river.issued == ISSUED and len(river.points) == 12 and river.points[0].valid == ISSUED + HOUR
    assert all(0.3 < p.level_m < 0.9 for p in river.points)  # the bad 9.9 m readings never reached the fit
    # 400 m³/s net for 12 h: the reservoir rises.
    assert reservoir.method == "mass_balance" and reservoir.points[-1].level_m > 32.0
    [handed] = engine.calls
    assert {(f.station_id, f.source) for f in handed} == {("huong-kim-long", "model"), ("reservoir-001", "model")}
    assert summary.forecasts == {
        "huong-kim-long": river.source + ":" + river.method,
        "reservoir-001": "model:mass_balance",
    }


def test_the_schedule_refits_daily_and_issues_hourly(db: InfluxSink) -> None:
    engine = Recorder()
    job = ForecastJob(CONFIG, lambda: TABLES, db, engine)
    job.run_once(NOW)
    again = job.run_once(NOW + timedelta(minutes=30))
    assert again.issued is None and again.refitted == [] and len(engine.calls) == 1
    later = job.run_once(NOW + HOUR)
    assert later.issued == ISSUED + HOUR and later.refitted == [] and len(engine.calls) == 2
    assert job.counters["fits"] == 1 and job.counters["fit_errors"] == 4  # two stations failing, at two issues


def test_a_fresh_official_forecast_is_preferred_and_warns(db: InfluxSink, tmp_path: Path) -> None:
    issued = ISSUED - 2 * HOUR
    points = tuple(
        ForecastPoint(issued + h * HOUR, h, 0.5 + 0.2 * h, 0.4 + 0.2 * h, 0.6 + 0.2 * h) for h in range(1, 13)
    )
    db.write(forecast_lines(Forecast("huong-kim-long", issued, "official", "Đài KTTV Huế", points), "river"))
    engine = AlertEngine(
        AlertsConfig(forecast=Path("forecast.yaml")),
        TABLES,
        AlertStore(tmp_path / "alerts.db"),
        areas={"river-kimlong-01": "46"},
        intervals={},
        now=NOW,
    )
    engine.process([Observation("river-kimlong-01", "stage", "water_level", NOW, 0.7)], now=NOW)
    summary = ForecastJob(CONFIG, lambda: TABLES, db, engine).run_once(NOW)
    assert summary.forecasts["huong-kim-long"] == "official:Đài KTTV Huế"
    assert summary.forecasts["reservoir-001"] == "model:mass_balance"
    [warning] = [a for a in engine.active() if a.rule == "flood_forecast"]
    assert warning.subject == "huong-kim-long" and warning.details["source"] == "official"
    assert [c["name"] for c in warning.details["crossings"]] == ["BĐ1", "BĐ2"]
    # The engine's risk level reached InfluxDB with the forecasts.
    assert db.query('SELECT "level" FROM "risk_level" WHERE "area" = \'46\'')[0]["level"] == 1

    # Past its age, the official forecast gives way to the hub's own.
    old = ForecastJob(CONFIG, lambda: TABLES, db, Recorder(), official_max_age=timedelta(hours=1)).run_once(NOW)
    assert old.forecasts["huong-kim-long"].startswith("model:")


def test_open_forecast_job_reads_the_file_relative_to_the_hub_config(influx: InfluxDB) -> None:
    root = Path(__file__).parents[3]
    settings = HubInflux(url=influx.url, database="iocgw")
    engine = Recorder()
    engine.tables = TABLES  # type: ignore[attr-defined]
    assert open_forecast_job(AlertsConfig(), settings, engine) is None  # type: ignore[arg-type]
    alerts = AlertsConfig(forecast=Path("hub/forecast/sample_forecast.yaml"), forecast_official_max_age_h=6)
    job = open_forecast_job(alerts, settings, engine, base=root)  # type: ignore[arg-type]
    assert job is not None and job.official_max_age == timedelta(hours=6)
    assert [s.station_id for s in job.config.stations][:1] == ["hong-ha-noi-long-bien"]
    assert job.tables() is TABLES
    job.close()


def test_an_engine_or_influx_failure_is_counted_and_the_run_completes(db: InfluxSink) -> None:
    class Broken(Recorder):
        def forecasts(self, forecasts: Any, now: datetime | None = None) -> list[str]:
            raise RuntimeError("alerts.db is locked")

    job = ForecastJob(CONFIG, lambda: TABLES, db, Broken())
    summary = job.run_once(NOW)
    assert summary.errors["engine"] == "RuntimeError: alerts.db is locked" and job.counters["engine_errors"] == 1
    assert set(latest_forecasts(db, "model", NOW, timedelta(hours=2))) == {"huong-kim-long", "reservoir-001"}

    down = InfluxSink(HubInflux(url="http://127.0.0.1:9", database="iocgw", timeout_s=0.5), retry_budget_s=0.0)
    engine = Recorder()
    job = ForecastJob(CONFIG, lambda: TABLES, down, engine)
    summary = job.run_once(NOW)  # nothing to read, nothing written: every station fails, the run ends normally
    assert summary.issued == ISSUED and summary.lines == 0 and job.counters["fit_errors"] == 3
    assert summary.errors["official"].endswith("Connection refused") and engine.calls == []


def test_a_refused_write_is_counted_and_the_warnings_still_go_to_the_engine(db: InfluxSink) -> None:
    class ReadOnly:
        def query(self, q: str) -> list[dict[str, Any]]:
            return db.query(q)

        def write(self, lines: list[str]) -> None:
            raise OSError("InfluxDB unavailable: HTTP 503")

    engine = Recorder()
    job = ForecastJob(CONFIG, lambda: TABLES, ReadOnly(), engine)
    summary = job.run_once(NOW)
    assert summary.errors["write:forecasts"] == "InfluxDB unavailable: HTTP 503" and job.counters["write_errors"] == 1
    assert len(engine.calls) == 1 and {f.station_id for f in engine.calls[0]} == {"huong-kim-long", "reservoir-001"}


def test_run_computes_without_writing_so_the_hub_can_submit_it_to_its_writer(db: InfluxSink) -> None:
    engine = Recorder()
    run = ForecastJob(CONFIG, lambda: TABLES, db, engine).run(NOW)
    assert run.summary.issued == ISSUED and run.now == NOW and engine.calls == []
    assert {f.station_id for f in run.forecasts} == {"huong-kim-long", "reservoir-001"}
    assert latest_forecasts(db, "model", NOW, timedelta(hours=2)) == {}  # nothing written by run itself
    db.write(run.lines)  # what IngestPipeline.submit does with them
    stored = latest_forecasts(db, "model", NOW, timedelta(hours=2))
    assert {sid: f for sid, f in stored.items()} == {f.station_id: f for f in run.forecasts}


def rain_at(t: datetime) -> float:
    """A rain gauge's 5-minute reading: 0.2 mm (one tip) in the first six hours of every third day, else dry."""
    day = int(t.timestamp() // 86400)
    return 0.2 if day % 3 == 0 and t.hour < 6 else 0.0


@pytest.fixture
def rain_db(db: InfluxSink) -> InfluxSink:
    lines = []
    t = ISSUED - timedelta(days=DAYS + 1)
    while t < NOW:
        if not (ISSUED - 5 * HOUR <= t < ISSUED - 4 * HOUR):  # one hour the gauge was silent
            lines.append(reading("rainfall", "rain-hue-001", "rain", t, rain_at(t)))
        t += timedelta(minutes=5)
    lines.append(reading("rainfall", "rain-hue-001", "rain", ISSUED - timedelta(minutes=20), 55.0, "bad"))
    db.write(lines)
    return db


def test_rain_is_the_hourly_sum_of_good_readings_and_a_silent_hour_is_missing(rain_db: InfluxSink) -> None:
    where = {"node_id": "rain-hue-001", "sensor_id": "rain"}
    start = ISSUED - 72 * HOUR
    series = hourly_series(rain_db, "rainfall", where, start, ISSUED, aggregate="sum")
    for i, v in enumerate(series.values):
        hour = series.time_at(i)
        if hour == ISSUED - 4 * HOUR:
            assert math.isnan(v)  # no reading: not a dry hour
            continue
        expected = sum(rain_at(hour - HOUR + k * timedelta(minutes=5)) for k in range(12))
        assert v == pytest.approx(expected)  # the bad 55 mm reading in the last hour is left out
    assert max(series.values) == pytest.approx(2.4)


def test_a_station_with_rain_gauges_reads_them_for_its_fit_and_its_forecasts(rain_db: InfluxSink) -> None:
    cfg = StationForecastConfig.model_validate(
        {
            "station_id": "huong-kim-long",
            "history_days": DAYS,
            "min_history_h": 240,
            "rain": [{"node_id": "rain-hue-001", "sensor_id": "rain"}],
        }
    )
    job = ForecastJob(ForecastConfig(stations=[cfg], horizon_h=12), lambda: TABLES, rain_db, Recorder())
    history = job._river_series(TABLES, cfg, ISSUED - 72 * HOUR, ISSUED)
    assert set(history) == {"huong-kim-long", "rain:rain-hue-001/rain"}
    summary = job.run_once(NOW)
    assert summary.refitted == ["huong-kim-long"] and summary.errors == {}
    model = job.models["huong-kim-long"]
    assert model.rain_gauges == ("rain:rain-hue-001/rain",)
    # The gauge's rain has nothing to do with this river's daily swing: the fit says so, or uses it where chance
    # made it a hair better on held-out hours; either way the forecast is issued.
    assert model.rain_note == "" or model.rain_note.startswith("rain not used")
    assert summary.forecasts["huong-kim-long"].startswith("model:")


def test_a_station_with_a_rain_forecast_area_reads_its_stored_issues(db: InfluxSink) -> None:
    from hub.forecast.rain_forecast import RainForecast
    from hub.forecast.rain_store import rain_forecast_lines

    lines = []
    t = ISSUED - timedelta(days=DAYS + 1)
    while t <= ISSUED:  # an issue every 6 hours: rain on the tide's rising half-days, which the river ignores
        mm = tuple(2.0 if math.sin(2 * math.pi * (t + k * HOUR).timestamp() / 86400) > 0 else 0.0 for k in range(1, 49))
        lines += rain_forecast_lines(RainForecast("huong", t, t + HOUR, mm), "NCHMF")
        t += 6 * HOUR
    db.write(lines)
    cfg = StationForecastConfig(
        station_id="huong-kim-long", history_days=DAYS, min_history_h=240, rain_forecast="huong"
    )
    job = ForecastJob(ForecastConfig(stations=[cfg], horizon_h=12), lambda: TABLES, db, Recorder())
    stored = job._rain_forecasts(cfg, ISSUED - 24 * HOUR, ISSUED)
    assert stored is not None and len(stored) == 8  # issued from 18 h before the window (42 h ago) to its end
    assert stored.ahead(ISSUED, 12) == pytest.approx(
        sum(2.0 for k in range(1, 13) if math.sin(2 * math.pi * (ISSUED + k * HOUR).timestamp() / 86400) > 0)
    )
    summary = job.run_once(NOW)
    assert summary.refitted == ["huong-kim-long"] and summary.errors == {}
    model = job.models["huong-kim-long"]
    # The forecasts were read over the whole history (else: "no forecasts stored" or "... needed"); whether they
    # earn a place is the held-out history's call.
    assert model.rain_forecast_note in (
        "",
        "rain forecast not used: it beat the fit without it at no horizon on held-out history",
    )
    assert summary.forecasts["huong-kim-long"].startswith("model:")


class Planner(Recorder):
    """An engine with a planned release: the gates open 4 h after the issue, releasing 1,000 m³/s."""

    def planned_release(self, reservoir_id: str) -> tuple[datetime, float] | None:
        return (ISSUED + 4 * HOUR, 1000.0) if reservoir_id == "reservoir-001" else None


def test_a_planned_release_draws_the_reservoir_down_from_its_opening(db: InfluxSink) -> None:
    ForecastJob(CONFIG, lambda: TABLES, db, Planner()).run_once(NOW)
    planned = latest_forecasts(db, "model", NOW, timedelta(hours=2))["reservoir-001"]
    levels = [p.level_m for p in planned.points]
    # 600 in and 200 out until the opening: rising; 600 in and 1,000 out after it: falling.
    assert levels[0] < levels[1] < levels[2] < levels[3]
    assert levels[4] < levels[3] and levels[-1] < levels[4]
