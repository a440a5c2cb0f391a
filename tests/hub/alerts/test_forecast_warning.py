"""Forecast warnings through the real engine: created, updated as the forecast moves, escalated, cleared; a rule of
their own beside the measured-level alarm; the QĐ 18/2021 risk level fed from the forecast peak without counting one
flood twice; reservoirs against their named levels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.alerts.alarm import Alarm, Transition
from hub.alerts.config import AlertsConfig, RuleTables, load_rule_tables
from hub.alerts.engine import AlertEngine
from hub.alerts.evaluate.base import Observation
from hub.alerts.evaluate.forecast import ForecastEvaluator
from hub.alerts.rules.dam_safety import ReservoirTable
from hub.alerts.rules.flood_levels import FloodStationTable
from hub.alerts.rules.severity import Severity
from hub.alerts.store import AlertStore
from hub.forecast.base import HOUR, Forecast, ForecastPoint
from hub.forecast.config import ForecastConfig
from tests.support.stations import RESERVOIR, flood_station

T0 = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)  # 07:00 in Huế
KIM_LONG = flood_station("huong-kim-long", "river-kimlong-01", name="Kim Long")
Events = list[tuple[int, Alarm, Transition]]


def make_engine(tmp_path: Path, sink: Events) -> AlertEngine:
    tables = RuleTables(flood=FloodStationTable(stations=[KIM_LONG]), reservoirs=ReservoirTable(reservoirs=[RESERVOIR]))
    return AlertEngine(
        AlertsConfig(forecast=Path("forecast.yaml")),
        tables,
        AlertStore(tmp_path / "alerts.db"),
        areas={"river-kimlong-01": "46", "reservoir-001": "46"},
        intervals={},
        notify=sink.extend,
        notify_on=set(Transition),
        now=T0,
    )


def rising(station: str, issued: datetime, levels: list[float], spread: float = 0.2) -> Forecast:
    points = tuple(
        ForecastPoint(issued + h * HOUR, h, v, v - spread, v + spread) for h, v in enumerate(levels, start=1)
    )
    return Forecast(station, issued, "model", "regression", points)


def stage(t: datetime, value: float, sensor: str = "stage", node: str = "river-kimlong-01") -> Observation:
    return Observation(node, sensor, "water_level", t, value)


def forecast_events(sink: Events, rule: str = "flood_forecast") -> list[tuple[str, int | None]]:
    return [(t.value, a.level) for _, a, t in sink if a.rule == rule]


def test_a_warning_is_created_follows_the_forecast_and_clears(tmp_path: Path) -> None:
    sink: Events = []
    engine = make_engine(tmp_path, sink)
    engine.process([stage(T0, 0.6)], now=T0)

    # 0.6 m now, 1.2 m expected at +3 h: BĐ1 (1.0 m) is crossed between +2 h and +3 h.
    engine.forecasts([rising("huong-kim-long", T0, [0.7, 0.9, 1.2, 1.4, 1.5, 1.5])], now=T0)
    [(_, created, transition)] = [e for e in sink if e[1].rule == "flood_forecast"]
    assert transition is Transition.CREATED and created.level == 1 and created.severity is Severity.WARNING
    [crossing] = created.details["crossings"]
    assert crossing["name"] == "BĐ1" and crossing["expected"] == (T0 + timedelta(hours=2, minutes=20)).isoformat()
    assert 0.5 < crossing["confidence"] <= 1
    assert created.message.startswith("Dự báo sông Hương tại Kim Long vượt BĐ1 lúc 09:20 01/10 (khoảng 2 giờ nữa)")
    assert created.message.endswith(f"độ tin cậy {crossing['confidence'] * 100:.0f} %")
    assert (created.details["source"], created.details["method"]) == ("model", "regression")

    # The next issue brings the crossing an hour forward: the same alarm, updated.
    t1 = T0 + HOUR
    engine.forecasts([rising("huong-kim-long", t1, [1.2, 1.5, 1.8, 1.9])], now=t1)
    updated = sink[-1]
    assert updated[2] is Transition.UPDATED and updated[1].id == created.id
    assert updated[1].details["crossings"][0]["expected"] < crossing["expected"]
    assert "lúc 08:" in updated[1].message

    # Then BĐ2 as well: escalated, the highest level crossed, both crossing times in the details.
    t2 = T0 + 2 * HOUR
    engine.forecasts([rising("huong-kim-long", t2, [1.3, 1.8, 2.3, 2.6])], now=t2)
    escalated = sink[-1][1]
    assert sink[-1][2] is Transition.ESCALATED and escalated.level == 2 and escalated.severity is Severity.MINOR
    assert [c["name"] for c in escalated.details["crossings"]] == ["BĐ1", "BĐ2"]
    assert "vượt BĐ2" in escalated.message

    # A forecast that no longer reaches BĐ1 clears it.
    t3 = T0 + 3 * HOUR
    engine.forecasts([rising("huong-kim-long", t3, [0.8, 0.7, 0.6])], now=t3)
    assert forecast_events(sink) == [("created", 1), ("updated", 1), ("escalated", 2), ("cleared", 0)]
    assert len({a.id for _, a, _ in sink if a.rule == "flood_forecast"}) == 1
    assert not [a for a in engine.active() if a.rule == "flood_forecast"]


def test_a_crossing_below_the_warning_confidence_is_only_listed_as_possible(tmp_path: Path) -> None:
    sink: Events = []
    engine = make_engine(tmp_path, sink)
    engine.process([stage(T0, 0.6)], now=T0)
    # The central forecast just touches BĐ1 (1.05 m) inside a wide band (± 0.4 m): about a 56 % chance, below the
    # configured 0.8. No warning; the crossing is kept in the (inactive) condition's details.
    engine.forecasts([rising("huong-kim-long", T0, [0.8, 1.0, 1.05, 1.0], spread=0.4)], now=T0)
    assert forecast_events(sink) == []
    assert not [a for a in engine.active() if a.rule == "flood_forecast"]
    assert "46" not in engine.hazards or not engine.hazards["46"]

    # BĐ1 sure enough warns; BĐ2, just touched at the peak, is listed as possible and does not set the level.
    engine.forecasts([rising("huong-kim-long", T0 + HOUR, [1.0, 1.5, 2.02, 1.9], spread=0.4)], now=T0 + HOUR)
    assert forecast_events(sink) == [("created", 1)]
    [alarm] = [a for a in engine.active() if a.rule == "flood_forecast"]
    assert [c["name"] for c in alarm.details["crossings"]] == ["BĐ1"]
    assert [c["name"] for c in alarm.details["possible"]] == ["BĐ2"]
    assert alarm.details["possible"][0]["confidence"] < alarm.details["warn_confidence"] == 0.8
    # A later forecast whose crossing is no longer likely enough does not keep the warning: it clears.
    engine.forecasts([rising("huong-kim-long", T0 + 2 * HOUR, [0.9, 1.02, 0.95], spread=0.4)], now=T0 + 2 * HOUR)
    assert forecast_events(sink) == [("created", 1), ("cleared", 0)]


def test_the_hub_and_the_benchmark_warn_at_the_same_confidence() -> None:
    from bench.forecast import WARN_CONFIDENCE as BENCH

    evaluator = ForecastEvaluator(FloodStationTable(stations=[KIM_LONG]), None, RuleTables().risk)
    assert evaluator.warn_confidence == ForecastConfig().warn_confidence == BENCH
    assert ForecastEvaluator(None, None, RuleTables().risk, warn_confidence=0.9).warn_confidence == 0.9


def test_the_forecast_warning_is_distinct_from_the_measured_alarm(tmp_path: Path) -> None:
    sink: Events = []
    engine = make_engine(tmp_path, sink)
    engine.process([stage(T0, 1.2)], now=T0)  # measured: BĐ1
    engine.forecasts([rising("huong-kim-long", T0, [1.5, 1.9, 2.4, 2.8])], now=T0)  # forecast: BĐ2 ahead
    active = {a.rule: a for a in engine.active() if a.subject == "huong-kim-long"}
    assert set(active) == {"flood_level", "flood_forecast"}
    assert (active["flood_level"].level, active["flood_forecast"].level) == (1, 2)
    assert active["flood_level"].id != active["flood_forecast"].id
    # BĐ1 is already reached: the forecast warns of BĐ2 only.
    assert [c["name"] for c in active["flood_forecast"].details["crossings"]] == ["BĐ2"]
    assert active["flood_forecast"].details["current_m"] == 1.2

    # Measured at BĐ3 already: nothing left above to warn of, the forecast warning clears.
    engine.process([stage(T0 + HOUR, 3.6)], now=T0 + HOUR)
    engine.forecasts([rising("huong-kim-long", T0 + HOUR, [3.8, 3.9])], now=T0 + HOUR)
    assert forecast_events(sink)[-1] == ("cleared", 0)


def test_the_forecast_peak_feeds_the_risk_level_without_counting_one_flood_twice(tmp_path: Path) -> None:
    sink: Events = []
    engine = make_engine(tmp_path, sink)
    engine.process([stage(T0, 0.5)], now=T0)
    # Zone 1 (QĐ 18/2021 Điều 45 as configured by default): BĐ1 to below BĐ3 is risk level 1.
    lines = engine.forecasts([rising("huong-kim-long", T0, [0.8, 1.3, 1.7])], now=T0)
    assert engine.hazards["46"] == {"flood_forecast:huong-kim-long": 1}
    assert any(ln.startswith("risk_level,area=46 ") and "level=1i" in ln for ln in lines)
    [risk] = [a for a in engine.active() if a.rule == "disaster_risk"]
    assert risk.subject == "46" and risk.level == 1

    # The river reaches BĐ1: the measured flood and the forecast are one hazard (the higher counts), so the area
    # is not raised for two "coinciding hazards" that are one flood.
    engine.process([stage(T0 + HOUR, 1.1)], now=T0 + HOUR)
    assert engine.hazards["46"] == {"flood:huong-kim-long": 1, "flood_forecast:huong-kim-long": 1}
    [risk] = [a for a in engine.active() if a.rule == "disaster_risk"]
    assert risk.level == 1
    # While it floods, a forecast of worse (past BĐ3: risk level 2 in zone 1) raises the area to that level, once.
    engine.forecasts([rising("huong-kim-long", T0 + HOUR, [1.5, 2.6, 3.7])], now=T0 + HOUR)
    assert engine.hazards["46"]["flood_forecast:huong-kim-long"] == 2
    [risk] = [a for a in engine.active() if a.rule == "disaster_risk"]
    assert risk.level == 2


def test_a_reservoir_forecast_warns_of_its_named_levels(tmp_path: Path) -> None:
    sink: Events = []
    engine = make_engine(tmp_path, sink)
    engine.process([Observation("reservoir-001", "level", "reservoir_level", T0, 31.8)], now=T0)
    # 31.8 m now: the normal level (32.5, MNDBT) in 2 h, the design flood level (34.2, MNLTK) in 5 h.
    engine.forecasts([rising("reservoir-001", T0, [32.2, 32.5, 33.0, 33.8, 34.2, 34.4])], now=T0)
    [(_, alarm, transition)] = [e for e in sink if e[1].rule == "reservoir_forecast"]
    assert transition is Transition.CREATED and alarm.subject == "reservoir-001"
    assert [c["name"] for c in alarm.details["crossings"]] == ["MNDBT", "MNLTK"]
    assert alarm.details["current_m"] == 31.8 and alarm.details["levels_m"] == [32.5, 34.2, 35.1]
    # The design-to-check band is a major alarm when measured; forecast, one step lower.
    assert alarm.severity is Severity.MINOR and alarm.level == 4
    assert alarm.message.startswith("Dự báo hồ Hồ chứa minh hoạ vượt MNLTK (34.20 m) lúc 12:00 01/10")
    # Reservoirs have no QĐ 18/2021 level: no hazard from their forecast.
    assert "46" not in engine.hazards or not engine.hazards["46"]


def test_an_old_bulletin_warns_only_of_the_hours_still_to_come(tmp_path: Path) -> None:
    sink: Events = []
    engine = make_engine(tmp_path, sink)
    engine.process([stage(T0, 0.6)], now=T0)
    official = Forecast(
        "huong-kim-long",
        T0 - 12 * HOUR,
        "official",
        "Đài KTTV khu vực Trung Trung Bộ",
        tuple(
            ForecastPoint(T0 + h * HOUR, h + 12, v, v, v)
            for h, v in ((-6, 1.4), (0, 0.9), (6, 0.95), (12, 2.2))  # the past 1.4 m is no warning any more
        ),
    )
    engine.forecasts([official], now=T0)
    [(_, alarm, _)] = [e for e in sink if e[1].rule == "flood_forecast"]
    assert [c["name"] for c in alarm.details["crossings"]] == ["BĐ1", "BĐ2"]
    assert alarm.details["crossings"][0]["expected"] > T0.isoformat()
    assert alarm.details["crossings"][0]["confidence"] == 1.0  # no band given: the central value decides
    assert alarm.details["source"] == "official"


def test_a_warning_whose_forecast_ran_out_is_cleared_at_the_tick(tmp_path: Path) -> None:
    sink: Events = []
    engine = make_engine(tmp_path, sink)
    engine.process([stage(T0, 0.6)], now=T0)
    engine.forecasts([rising("huong-kim-long", T0, [0.9, 1.3, 1.6])], now=T0)
    engine.tick(now=T0 + 2 * HOUR)  # the forecast still reaches an hour ahead: nothing changes
    assert forecast_events(sink) == [("created", 1)]
    assert engine.hazards["46"] == {"flood_forecast:huong-kim-long": 1}

    engine.tick(now=T0 + 3 * HOUR)  # its last hour has come and no newer forecast: cleared, the risk withdrawn
    assert forecast_events(sink) == [("created", 1), ("cleared", 0)]
    [cleared] = [a for _, a, t in sink if a.rule == "flood_forecast" and t is Transition.CLEARED]
    assert cleared.message.startswith("Bản tin dự báo đã hết thời hạn") and cleared.details == {"expired": True}
    assert engine.hazards["46"] == {}
    engine.tick(now=T0 + 4 * HOUR)
    assert forecast_events(sink) == [("created", 1), ("cleared", 0)]


def test_the_engine_warns_at_the_forecast_files_confidence(tmp_path: Path) -> None:
    stations = tmp_path / "stations.yaml"
    stations.write_text(
        "stations:\n  - {station_id: st-a, node_id: n-a, sensor_id: stage, river: Thử, name: A, province: Huế,\n"
        "     bd1_m: 5.0, bd2_m: 6.0, bd3_m: 7.0, source: test}\n"
    )
    forecast = tmp_path / "forecast.yaml"
    forecast.write_text("warn_confidence: 0.95\nstations:\n  - {station_id: st-a}\n")
    config = AlertsConfig(flood_stations=stations, forecast=forecast)
    engine = AlertEngine(config, load_rule_tables(config), AlertStore(tmp_path / "a.db"), areas={}, intervals={})
    (rule,) = [ev for ev in engine.evaluators if ev.rule == "flood_forecast"]
    assert rule.warn_confidence == 0.95  # type: ignore[attr-defined]
    engine.store.close()
