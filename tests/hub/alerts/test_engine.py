"""The engine end to end in one process: observations in, alarms, events and level points out, state persisted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.alerts.alarm import AlarmState, Transition
from hub.alerts.config import AlertsConfig, FireArea, RainGauge, RuleTables, SensorRef
from hub.alerts.engine import AlertEngine
from hub.alerts.evaluate.base import Observation
from hub.alerts.rules.flood_levels import FloodStation, FloodStationTable
from hub.alerts.rules.nesterov import NesterovConfig
from hub.alerts.rules.severity import Severity
from hub.alerts.store import AlertStore
from wire import EventMessage

T0 = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)
LONG_BIEN = FloodStation(
    station_id="hong-long-bien",
    node_id="river-longbien-01",
    sensor_id="stage",
    river="Hồng",
    name="Hà Nội (Long Biên)",
    province="Hà Nội",
    bd1_m=9.5,
    bd2_m=10.5,
    bd3_m=11.5,
    source="QĐ 05/2020/QĐ-TTg",
)


def make_engine(tmp_path, sink, notify_on=None, names=None, **config):
    tables = RuleTables(
        flood=FloodStationTable(stations=[LONG_BIEN]), nesterov={"Hà Tĩnh": NesterovConfig(province="Hà Tĩnh")}
    )
    cfg = AlertsConfig(**config)
    return AlertEngine(
        cfg,
        tables,
        AlertStore(tmp_path / "alerts.db"),
        areas={"river-longbien-01": "01", "gauge-1": "01", "wx-1": "42", "cam-1": "42"},
        intervals={},
        notify=sink.extend,
        now=T0,
        names=names,
        **({"notify_on": notify_on} if notify_on is not None else {}),
    )


def stage(t: datetime, value: float) -> Observation:
    return Observation("river-longbien-01", "stage", "water_level", t, value)


HYDROGRAPH = [8.0, 9.0, 9.6, 10.2, 10.8, 11.3, 11.9, 11.6, 11.2, 10.4, 9.9, 9.47, 9.3, 8.5]


def test_flood_through_bd1_to_bd3_and_back_notifies_in_order_once(tmp_path):
    sink: list = []
    engine = make_engine(tmp_path, sink)
    for i, v in enumerate(HYDROGRAPH):
        lines = engine.process([stage(T0 + timedelta(hours=i), v)], now=T0 + timedelta(hours=i))
        assert any(line.startswith("flood_level,") for line in lines)
    transitions = [(t.value, a.level) for _, a, t in sink]
    # The clear says how things stand now (below BĐ1: level 0, the reading that cleared it); the peak is kept.
    assert transitions == [("created", 1), ("escalated", 2), ("escalated", 3), ("cleared", 0)]
    cleared = sink[3][1]
    assert (cleared.severity, cleared.peak_severity, cleared.peak_level) == (Severity.INFO, Severity.CRITICAL, 3)
    assert cleared.value == 9.3 and cleared.details["margin_m"] != sink[2][1].details["margin_m"]
    assert len({a.id for _, a, _ in sink}) == 1, "one alarm, updated in place"
    assert sink[2][1].severity is Severity.CRITICAL
    assert "11.90" not in sink[0][1].message and "9.60 m" in sink[0][1].message


def risk_and_rain(tmp_path, per_batch: int) -> tuple[list, list]:
    sink: list = []
    engine = make_engine(tmp_path, sink, rain_gauges=[RainGauge(gauge_id="g1", node_id="gauge-1", sensor_id="rain")])
    rain = [Observation("gauge-1", "rain", "rainfall", T0 + timedelta(minutes=30 * (i + 1)), 12.0) for i in range(24)]
    for i in range(0, len(rain), per_batch):
        engine.process(rain[i : i + per_batch], now=T0 + timedelta(days=1))
    engine.store.close()
    pick = lambda rule: [(t.value, a.level, a.updated_at) for _, a, t in sink if a.rule == rule]  # noqa: E731
    return pick("disaster_risk"), pick("heavy_rain")


def test_the_disaster_risk_follows_every_level_however_readings_are_batched(tmp_path):
    """A rain burst takes the area through several rain levels; the risk passes through each of them at its
    reading's time, whether the readings come one per batch or all in one: one hub's writer and a cluster
    leader cut batches differently, and must give the same alarms."""
    one_by_one, rain = risk_and_rain(tmp_path / "1", 1)
    assert [lvl for _, lvl, _ in rain] == [1, 2, 3], "the burst passes three rain levels"
    assert one_by_one == [("created", 1, rain[0][2]), ("escalated", 2, rain[1][2]), ("escalated", 3, rain[2][2])]
    for per_batch in (3, 24):
        assert risk_and_rain(tmp_path / str(per_batch), per_batch) == (one_by_one, rain)


def test_hysteresis_keeps_the_level_while_hovering(tmp_path):
    sink: list = []
    engine = make_engine(tmp_path, sink)
    for i, v in enumerate([9.6, 9.48, 9.52, 9.47, 9.51, 9.49]):  # hovering around BĐ1 = 9.5, hysteresis 0.05
        engine.process([stage(T0 + timedelta(minutes=15 * i), v)])
    assert [t for _, _, t in sink] == [Transition.CREATED]


def test_restart_in_the_middle_neither_loses_nor_repeats(tmp_path):
    sink: list = []
    engine = make_engine(tmp_path, sink)
    half = len(HYDROGRAPH) // 2
    for i, v in enumerate(HYDROGRAPH[:half]):
        engine.process([stage(T0 + timedelta(hours=i), v)])
    engine.store.close()
    engine = make_engine(tmp_path, sink)  # a new process: state comes from the database
    # The message of the last hour is delivered again after the restart (it was not acknowledged yet).
    for i, v in list(enumerate(HYDROGRAPH))[half - 1 :]:
        engine.process([stage(T0 + timedelta(hours=i), v)])
    assert [(t.value, a.level) for _, a, t in sink] == [
        ("created", 1),
        ("escalated", 2),
        ("escalated", 3),
        ("cleared", 0),
    ]


def test_heavy_rain_from_increments(tmp_path):
    sink: list = []
    engine = make_engine(tmp_path, sink, rain_gauges=[RainGauge(gauge_id="g1", node_id="gauge-1", sensor_id="rain")])
    # 12 hours of 5 mm every 30 min = 120 mm in 12 h: level 1 (50-100 mm/12 h band exceeded -> >100 mm/24 h too)
    for i in range(24):
        engine.process([Observation("gauge-1", "rain", "rainfall", T0 + timedelta(minutes=30 * (i + 1)), 5.0)])
    created = [a for _, a, t in sink if t is Transition.CREATED]
    rain = [a for a in created if a.rule == "heavy_rain"]
    assert rain and rain[0].level >= 1 and rain[0].area == "01"
    risk = [a for a in created if a.rule == "disaster_risk"]
    assert risk and risk[0].subject == "01"
    # a replayed increment must not be counted twice
    before = {k: list(v) for k, v in engine.state["rain:g1"].items()}
    engine.process([Observation("gauge-1", "rain", "rainfall", T0 + timedelta(minutes=30), 5.0)])
    assert engine.state["rain:g1"] == before


def test_forest_fire_danger_and_camera_severity(tmp_path):
    sink: list = []
    area = FireArea(
        area_id="vuquang",
        area="42",
        nesterov="Hà Tĩnh",
        temperature=SensorRef(node_id="wx-1", sensor_id="t"),
        humidity=SensorRef(node_id="wx-1", sensor_id="rh"),
        rain=SensorRef(node_id="wx-1", sensor_id="rain"),
    )
    engine = make_engine(tmp_path, sink, names={"cam-1": "Chòi canh Vũ Quang"}, fire_areas=[area])
    # 13:00 local = 06:00 UTC. 35 °C / 30 % RH every day: d13 = 56.2 * 0.7 = 39.3 hPa, term ~1,376 per day.
    for day in range(8):
        t = datetime(2026, 4, 1 + day, 6, 0, tzinfo=UTC)
        engine.process(
            [Observation("wx-1", "t", "temperature", t, 35.0), Observation("wx-1", "rh", "humidity", t, 30.0)]
        )
    fire = [a for _, a, tr in sink if a.rule == "forest_fire_danger"]
    assert fire and fire[-1].level == 5 and fire[-1].severity is Severity.CRITICAL
    event = EventMessage(
        node_id="cam-1",
        seq=1,
        ts=datetime(2026, 4, 8, 7, tzinfo=UTC),
        event_id="e1",
        phase="new",
        camera="tower",
        label="smoke",
        score=0.8,
        top_score=0.85,
        box=(0.1, 0.1, 0.3, 0.3),
        start=datetime(2026, 4, 8, 7, tzinfo=UTC),
    )
    engine.process([], events=[event])
    cam = [a for _, a, t in sink if a.rule == "camera_fire"]
    assert cam and cam[0].level == 5 and cam[0].severity >= Severity.MAJOR
    # In Vietnamese, the node by its registry name: what the officer knows the tower as.
    assert cam[0].message == "Camera tower (Chòi canh Vũ Quang) thấy khói, điểm 0.85"
    engine.process([], events=[event.model_copy(update={"phase": "end", "seq": 2})])
    assert engine.store.get(cam[0].id).state is AlarmState.CLEARED_UNACK
    # a day of rain >= 5 mm resets the index
    t = datetime(2026, 4, 9, 6, 0, tzinfo=UTC)
    engine.process([Observation("wx-1", "rain", "rainfall", t, 12.0), Observation("wx-1", "t", "temperature", t, 35.0)])
    engine.process([Observation("wx-1", "t", "temperature", t + timedelta(days=1), 30.0)])
    assert engine.state["fire:vuquang"]["p"] == 0.0


def test_freshness_and_node_offline(tmp_path):
    sink: list = []
    engine = make_engine(tmp_path, sink)
    engine.freshness.intervals = {("river-longbien-01", "stage"): 900.0}
    engine.tick(T0 + timedelta(minutes=30))
    assert not [a for _, a, _ in sink if a.rule == "data_freshness"]
    engine.tick(T0 + timedelta(minutes=40))  # 2.5 x 15 min = 37.5 min of silence
    stale = [a for _, a, t in sink if a.rule == "data_freshness"]
    assert stale and stale[0].subject == "river-longbien-01/stage"
    engine.process(
        [],
        seen={("river-longbien-01", "stage"): (T0 + timedelta(minutes=41)).timestamp()},
        now=T0 + timedelta(minutes=41),
    )
    engine.tick(T0 + timedelta(minutes=42))
    assert sink[-1][2] is Transition.CLEARED
    engine.process([], statuses=[("river-longbien-01", "offline", T0)])
    assert sink[-1][1].rule == "node_offline" and sink[-1][2] is Transition.CREATED


def test_acknowledge(tmp_path):
    sink: list = []
    engine = make_engine(tmp_path, sink)
    engine.process([stage(T0, 10.0)])
    alarm = sink[0][1]
    acked = engine.acknowledge(alarm.id, "officer-1", "đã nhận", T0)
    assert acked.state is AlarmState.ACTIVE_ACK and acked.acked_by == "officer-1"
    engine.process([stage(T0 + timedelta(hours=1), 11.6)])  # BĐ3: needs a fresh acknowledgement
    assert engine.store.get(alarm.id).state is AlarmState.ACTIVE_UNACK


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10 * 24 * 60), st.floats(0, 30)), min_size=1, max_size=60))
def test_rain_evaluator_sums_equal_the_pure_rule(increments):
    from hub.alerts.evaluate.base import Context
    from hub.alerts.evaluate.rain import RainEvaluator
    from hub.alerts.rules.heavy_rain import RainBands, daily_totals, heavy_rain_days, rolling_sum

    bands = RainBands()
    ev = RainEvaluator([RainGauge(gauge_id="g", node_id="n", sensor_id="r")], bands)
    ctx = Context(now=T0, state={}, areas={}, hazards={}, fire_levels={})
    series: dict[datetime, float] = {}
    for minute, mm in increments:  # any order, with repeats: the evaluator keeps the last value per timestamp
        ts = T0 + timedelta(minutes=minute)
        series[ts] = mm
        ev.on_observation(Observation("n", "r", "rainfall", ts, mm), ctx)
    point = ctx.points[-1]
    end = max(series)
    kept = sorted((t, v) for t, v in series.items() if t > end - timedelta(days=7))
    assert point.fields["acc_12h_mm"] == pytest.approx(rolling_sum(kept, end, timedelta(hours=12)))
    assert point.fields["acc_24h_mm"] == pytest.approx(rolling_sum(kept, end, timedelta(hours=24)))
    days = heavy_rain_days(daily_totals(kept, end, 6), bands)
    assert ctx.findings[-1].condition.details["days_heavy"] == days


def test_planned_spillway_release_warns_from_its_deadline(tmp_path):
    from hub.alerts.rules.dam_safety import load_reservoirs

    sink: list = []
    engine = make_engine(tmp_path, sink)
    tables = engine.tables.model_copy(update={"reservoirs": load_reservoirs("hub/alerts/sample_rules/reservoirs.yaml")})
    engine.load(tables)
    reservoir = tables.reservoirs.reservoirs[0]
    lead = reservoir.release.warning_lead_time
    opening = T0 + timedelta(hours=12)
    engine.plan_release(reservoir.reservoir_id, opening, "operator-1")
    engine.tick(opening - lead - timedelta(minutes=1))
    assert not [a for _, a, _ in sink if a.subject.endswith("/release")]
    engine.tick(opening - lead)
    release = [(a, t) for _, a, t in sink if a.subject.endswith("/release")]
    assert release and release[0][1] is Transition.CREATED and release[0][0].severity is Severity.MAJOR
    engine.tick(opening + timedelta(hours=1))
    assert sink[-1][2] is Transition.CLEARED and sink[-1][1].subject.endswith("/release")
    try:
        engine.plan_release("no-such-reservoir", opening, "x")
    except KeyError as exc:
        assert "no-such-reservoir" in str(exc)
    else:
        raise AssertionError("an unknown reservoir was accepted")


def test_a_planned_release_with_its_flow_is_there_for_the_reservoir_forecast(tmp_path):
    from hub.alerts.rules.dam_safety import load_reservoirs

    engine = make_engine(tmp_path, [])
    engine.load(
        engine.tables.model_copy(update={"reservoirs": load_reservoirs("hub/alerts/sample_rules/reservoirs.yaml")})
    )
    rid = engine.tables.reservoirs.reservoirs[0].reservoir_id
    opening = T0 + timedelta(hours=6)
    engine.plan_release(rid, opening, "operator-1")
    assert engine.planned_release(rid) is None  # an opening without a flow says nothing to the mass balance
    engine.plan_release(rid, opening, "operator-1", release_m3s=1200.0)
    assert engine.planned_release(rid) == (opening, 1200.0)
    engine.plan_release(rid, None, "operator-1")
    assert engine.planned_release(rid) is None
    engine.store.close()


def test_derived_levels_carry_the_station_position_for_maps(tmp_path):
    engine = make_engine(tmp_path, [])
    engine.positions = {"river-longbien-01": (21.0425, 105.858)}
    lines = engine.process([stage(T0, 9.6)], now=T0)
    flood = next(line for line in lines if line.startswith("flood_level,"))
    assert "lat=21.0425" in flood and "lon=105.858" in flood
    other = make_engine(tmp_path / "b", [])  # no position known: no made-up coordinates
    assert all("lat=" not in line for line in other.process([stage(T0, 9.6)], now=T0))


def test_routes_that_ask_for_deescalations_updates_and_acknowledgements_get_them(tmp_path):
    """Before, the engine queued only created / escalated / cleared, so a display board routed on deescalated kept
    showing BĐ3 for hours after the river fell to BĐ1."""
    from hub.alerts.notify.config import NotifyConfig

    notify = NotifyConfig.model_validate(
        {
            "targets": [{"name": "board", "type": "webhook", "url": "http://127.0.0.1:1/x", "secret": {"env": "X"}}],
            "routes": [{"targets": ["board"], "transitions": ["created", "deescalated", "acknowledged"]}],
        }
    )
    wanted = notify.transitions()
    assert wanted == {Transition.CREATED, Transition.DEESCALATED, Transition.ACKNOWLEDGED, Transition.CLEARED}
    sink: list = []
    engine = make_engine(tmp_path, sink, notify_on=wanted)
    for i, v in enumerate([10.8, 9.8, 9.9]):  # BĐ2, down to BĐ1, an update at BĐ1
        engine.process([stage(T0 + timedelta(hours=i), v)], now=T0 + timedelta(hours=i))
    alarm_id = sink[0][1].id
    engine.acknowledge(alarm_id, "officer-1", "đã nhận", now=T0 + timedelta(hours=3))
    assert [(t.value, a.level) for _, a, t in sink] == [("created", 2), ("deescalated", 1), ("acknowledged", 1)]
