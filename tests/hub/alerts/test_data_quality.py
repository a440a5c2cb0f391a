"""The data_quality alarm: completeness counted from a real InfluxDB by the job, judged by the engine; raised for the
technicians when a sensor falls under its target, never before enough of the day has passed, cleared when it
recovers or the day rolls over with a good one, and never a flood alarm or a disaster risk level."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from hub.alerts.alarm import Transition
from hub.alerts.config import AlertsConfig, RuleTables, load_rule_tables
from hub.alerts.engine import AlertEngine
from hub.alerts.evaluate.base import Context
from hub.alerts.evaluate.data_quality import DataQualityEvaluator
from hub.alerts.rules.flood_levels import FloodStation, FloodStationTable
from hub.alerts.rules.severity import Severity
from hub.alerts.store import AlertStore
from hub.quality.completeness import DayCompleteness
from hub.quality.completeness_job import completeness_pass
from hub.quality.config import CompletenessSettings, QualityConfig
from hub.store.influx_query import InfluxReader
from hub.store.state import NodeInfo
from testkit.localsvc import InfluxDB
from tests.hub.quality.test_completeness_job import TODAY_START, readings, write

DB = "iocgw"
NODE = "river-a"
NODES = [NodeInfo(NODE, admin_code="01", sensors=(("stage", "water_level", 900.0),))]
# The same station is a flood station: a data_quality alarm on it must not make a flood alarm or a risk level.
STATION = FloodStation(
    station_id="a",
    node_id=NODE,
    sensor_id="stage",
    river="Hồng",
    name="A",
    province="Hà Nội",
    bd1_m=9.5,
    bd2_m=10.5,
    bd3_m=11.5,
    source="test",
)


def at_local(hour: float, day: int = 0) -> datetime:
    """``hour`` o'clock local (UTC+7) on 5 October 2026 (+ ``day`` days)."""
    return TODAY_START + timedelta(days=day, hours=hour)


def make_engine(tmp_path: Path, sink: list, quality: QualityConfig) -> AlertEngine:
    tables = RuleTables(flood=FloodStationTable(stations=[STATION]), quality=quality)
    return AlertEngine(
        AlertsConfig(),
        tables,
        AlertStore(tmp_path / "alerts.db"),
        areas={NODE: "01"},
        intervals={},
        notify=sink.extend,
        now=at_local(0),
    )


def evaluate(engine: AlertEngine, reader: InfluxReader, now: datetime) -> list[str]:
    """One pass as the hub makes it: the job's points, then the engine's lines."""
    result = completeness_pass(reader, NODES, now)
    return result.lines + engine.completeness(result.reports, now)


@pytest.fixture
def reader(influx: InfluxDB) -> InfluxReader:
    return InfluxReader(influx.url, DB)


def test_raised_after_min_hours_cleared_by_the_next_good_day_never_a_flood_alarm(
    tmp_path: Path, influx: InfluxDB, reader: InfluxReader
) -> None:
    sink: list = []
    engine = make_engine(tmp_path, sink, QualityConfig())  # min_ratio 0.8, from 06:00, minor
    # 4 October whole; 5 October a reading every 15 min until 02:00, then silence (the modem died) until 12:00;
    # 6 October whole. Each pass counts only what was stored before its own time.
    write(influx.url, readings(NODE, "stage", "water_level", at_local(-24), at_local(2), 900, "01"))
    write(influx.url, readings(NODE, "stage", "water_level", at_local(12), at_local(24, 1), 900, "01"))

    for hour in (0.2, 3, 5.9):  # 8 of 24 expected by 05:54, but today is not judged yet and yesterday was whole
        evaluate(engine, reader, at_local(hour))
    assert not engine.active() and not sink

    lines = evaluate(engine, reader, at_local(6))  # 8 of 24: 33 %
    (alarm,) = engine.active()
    assert (alarm.rule, alarm.subject, alarm.area, alarm.severity) == ("data_quality", f"{NODE}/stage", "01", "minor")
    assert alarm.message == f"Dữ liệu trạm {NODE} (stage) thiếu: 8/24 bản tin (33.3 %) hôm nay"
    assert alarm.details == {
        "day": "2026-10-05",
        "received": 8,
        "expected": 24.0,
        "ratio": 0.3333,
        "min_ratio": 0.8,
    }
    assert [t for _, _, t in sink] == [Transition.CREATED]
    assert any(line.startswith("completeness,") for line in lines)
    assert not any(line.startswith(("flood_level", "risk_level")) for line in lines)
    assert any(line.startswith("alarm,") and "rule=data_quality" in line for line in lines)

    # Readings back from 12:00: 8 + 48 of 96 by the end of the day (58 %): still short through the evening ...
    evaluate(engine, reader, at_local(23.9))
    assert engine.active()
    # ... and through the next night, judged on the whole of 5 October (56 of 96) until 06:00 ...
    evaluate(engine, reader, at_local(3, 1))
    (alarm,) = engine.active()
    assert alarm.message.endswith("hôm qua") and alarm.details["day"] == "2026-10-05"
    # ... then 6 October, whole so far, clears it.
    evaluate(engine, reader, at_local(6, 1))
    assert not engine.active()
    assert [t for _, _, t in sink] == [Transition.CREATED, Transition.CLEARED]
    assert "đủ" in sink[-1][1].message

    assert engine.hazards == {} and "disaster_risk" not in {a.rule for _, a, _ in sink}
    assert {a.rule for _, a, _ in sink} == {"data_quality"}


def test_a_short_yesterday_alarms_straight_after_midnight(tmp_path: Path, influx: InfluxDB, reader: InfluxReader):
    sink: list = []
    engine = make_engine(tmp_path, sink, QualityConfig())
    write(influx.url, readings(NODE, "stage", "water_level", at_local(-24), at_local(-12), 900, "01"))  # 48 of 96
    evaluate(engine, reader, at_local(0.1))
    (alarm,) = engine.active()
    assert alarm.message == f"Dữ liệu trạm {NODE} (stage) thiếu: 48/96 bản tin (50 %) hôm qua"


def test_recovery_within_the_day_clears(tmp_path: Path, influx: InfluxDB, reader: InfluxReader) -> None:
    sink: list = []
    engine = make_engine(tmp_path, sink, QualityConfig())
    write(influx.url, readings(NODE, "stage", "water_level", at_local(-24), at_local(0), 900, "01"))
    evaluate(engine, reader, at_local(7))  # nothing today: 0 of 28
    assert engine.active()
    # The edge outbox delivers its backlog after the link comes back: the same day is now complete.
    write(influx.url, readings(NODE, "stage", "water_level", at_local(0), at_local(7), 900, "01"))
    evaluate(engine, reader, at_local(7.1))
    assert not engine.active()
    assert [t for _, _, t in sink] == [Transition.CREATED, Transition.CLEARED]


# -- the evaluator alone ---------------------------------------------------------------------------------------
def ctx(now: datetime) -> Context:
    return Context(now=now, state={}, areas={NODE: "01"}, hazards={}, fire_levels={})


def judge(settings: CompletenessSettings, now: datetime, day: date, received: int, expected: float) -> list:
    c = ctx(now)
    DataQualityEvaluator(settings).on_completeness(NODE, "stage", DayCompleteness(day, received, expected), c)
    assert not c.touched_areas and not c.hazards, "never a hazard"
    return [(f.rule, f.subject, f.condition.active, f.condition.severity) for f in c.findings]


TODAY, YESTERDAY = date(2026, 10, 5), date(2026, 10, 4)


def test_only_the_judged_day_counts() -> None:
    s = CompletenessSettings()
    assert judge(s, at_local(3), TODAY, 0, 12) == []  # today, too early to judge
    assert judge(s, at_local(3), YESTERDAY, 96, 96) == [("data_quality", f"{NODE}/stage", False, Severity.MINOR)]
    assert judge(s, at_local(9), YESTERDAY, 0, 96) == []  # today is judged now
    assert judge(s, at_local(9), TODAY, 20, 36) == [("data_quality", f"{NODE}/stage", True, Severity.MINOR)]
    assert judge(s, at_local(9), date(2026, 10, 1), 0, 96) == []


def test_per_station_target_severity_and_switch() -> None:
    s = CompletenessSettings.model_validate(
        {
            "min_ratio": 0.9,
            "min_hours_into_day": 0,
            "severity": "warning",
            "stations": [
                {"node_id": NODE, "min_ratio": 0.5, "severity": "major"},
                {"node_id": "other", "sensor_id": "stage", "alarm": False},
            ],
        }
    )
    assert judge(s, at_local(1), TODAY, 3, 4) == [("data_quality", f"{NODE}/stage", False, Severity.MAJOR)]
    assert judge(s, at_local(1), TODAY, 1, 4) == [("data_quality", f"{NODE}/stage", True, Severity.MAJOR)]
    assert s.rule_for("other", "stage").alarm is False and s.rule_for("other", "rain").min_ratio == 0.9


def test_engine_registers_the_rule_from_the_alerts_quality_file(tmp_path: Path) -> None:
    (tmp_path / "quality.yaml").write_text("completeness: {min_ratio: 0.7}\n")
    tables = load_rule_tables(AlertsConfig(quality=Path("quality.yaml")), base=tmp_path)
    assert tables.quality is not None and tables.quality.completeness.min_ratio == 0.7
    engine = make_engine(tmp_path, [], tables.quality)
    assert any(isinstance(e, DataQualityEvaluator) for e in engine.evaluators)
    engine.load(RuleTables(quality=QualityConfig.model_validate({"completeness": {"alarm": False}})))
    assert not any(isinstance(e, DataQualityEvaluator) for e in engine.evaluators)
    engine.load(RuleTables())
    assert not any(isinstance(e, DataQualityEvaluator) for e in engine.evaluators)
