"""Quality control at ingest: what is stored with each reading, and what the alert engine gets and when."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hub.alerts.alarm import Transition
from hub.alerts.config import AlertsConfig, RuleTables
from hub.alerts.engine import AlertEngine
from hub.alerts.evaluate.base import Observation
from hub.alerts.rules.flood_levels import FloodStationTable
from hub.alerts.store import AlertStore
from hub.ingest.processor import Batch, Processor
from hub.quality.checker import QualityChecker
from hub.store.state import NodeInfo
from tests.support.stations import flood_station
from wire import Topics

T0 = datetime(2026, 11, 22, tzinfo=UTC)
LATER = T0 + timedelta(hours=2)
NODES = {"n1": NodeInfo("n1", admin_code="01", sensors=(("wl", "water_level", 900.0),))}


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now


def make(clock: Clock) -> Processor:
    checker = QualityChecker(intervals={("n1", "wl"): 900.0})
    return Processor(Topics("iocgw"), NODES, watches=lambda *_: True, clock=clock, quality=checker)


def send(p: Processor, clock: Clock, seq: int, value: float, quality: str = "good") -> Batch:
    ts = T0 + timedelta(minutes=15 * seq)
    clock.now = ts.timestamp()
    r = {"sensor_id": "wl", "quantity": "water_level", "value": value, "unit": "m", "quality": quality}
    body = {"v": 1, "node_id": "n1", "seq": seq, "ts": ts.isoformat(), "readings": [r]}
    batch = Batch()
    p.handle("iocgw/v1/n1/telemetry", json.dumps(body).encode(), batch)
    return batch


def test_the_stored_flag_is_the_worse_of_the_nodes_and_the_hubs_with_the_check_named():
    clock = Clock()
    p = make(clock)
    assert 'quality="good",seq=1i' in send(p, clock, 1, 5.0).lines[0]
    assert 'quality="suspect",seq=2i' in send(p, clock, 2, 5.01, quality="suspect").lines[0]  # the node's own flag
    jump = send(p, clock, 3, 8.0)  # 3 m in 15 min: over the rate limit
    assert 'quality="suspect",qc="rate_of_change",seq=3i' in jump.lines[0]
    assert jump.flagged == {"rate_of_change": 1}
    assert 'quality="bad",qc="hard_limit",seq=4i' in send(p, clock, 4, 5000.0, quality="suspect").lines[0]
    # The engine sees the flags: none of these may move an alarm.
    assert [o.flag for o in jump.observations] == ["suspect"]


def test_a_held_reading_whose_next_neighbour_never_comes_is_released_after_the_spike_window():
    clock = Clock()
    p = make(clock)
    send(p, clock, 1, 5.0)
    held = send(p, clock, 2, 5.4)  # 0.4 m: under the rate limit, over the spike threshold
    assert held.observations == []
    early = Batch()
    clock.now += 900 * 2.5 - 1
    assert p.release_held(early) == 0 and early.observations == []
    late = Batch()
    clock.now += 2
    assert p.release_held(late) == 1
    assert [(o.value, o.flag) for o in late.observations] == [(5.4, "good")]


def test_a_revision_line_changes_only_the_flag_of_the_earlier_point():
    clock = Clock()
    p = make(clock)
    for seq, value in enumerate([5.0, 5.0, 5.4], 1):
        send(p, clock, seq, value)
    after = send(p, clock, 4, 5.0)
    spike_ms = int((T0 + timedelta(minutes=45)).timestamp() * 1000)
    assert f'water_level,admin_code=01,node_id=n1,sensor_id=wl quality="bad",qc="spike" {spike_ms}' in after.lines
    assert after.revisions == 1
    assert [(o.value, o.flag, o.check) for o in after.observations] == [(5.4, "bad", "spike"), (5.0, "good", None)]


STATION = flood_station("st-1", "n1", "wl", bd1_m=9.5, bd2_m=10.5, bd3_m=11.5)


def test_flagged_readings_never_move_an_alarm_and_the_next_change_names_them(tmp_path):
    sink: list = []
    engine = AlertEngine(
        AlertsConfig.model_validate({"freshness": {"enabled": False}}),
        RuleTables(flood=FloodStationTable(stations=[STATION])),
        AlertStore(tmp_path / "alerts.db"),
        areas={},
        intervals={},
        notify=sink.extend,
        notify_on=set(Transition),
        now=T0,
    )

    def obs(minutes: int, value: float, flag: str = "good", check: str | None = None) -> Observation:
        return Observation("n1", "wl", "water_level", T0 + timedelta(minutes=minutes), value, flag, check)

    engine.process([obs(0, 9.0)], now=LATER)
    engine.process([obs(15, 12.0, "bad", "spike"), obs(30, 9.6, "suspect", "rate_of_change")], now=LATER)
    assert sink == [] and engine.counters["flagged_ignored"] == 2
    engine.process([obs(45, 9.7)], now=LATER)
    ((_, alarm, transition),) = sink
    assert (transition, alarm.level) == (Transition.CREATED, 1)
    quality = alarm.details["quality"]
    assert quality["flagged_readings"] == 2 and quality["last_flagged"]["check"] == "rate_of_change"
    # A flagged reading below BĐ1 does not clear it either; a trusted one does.
    engine.process([obs(60, 8.0, "suspect", "rate_of_change")], now=LATER)
    assert len(sink) == 1
    engine.process([obs(75, 9.2)], now=LATER)
    assert [t for _, _, t in sink] == [Transition.CREATED, Transition.CLEARED]
    engine.store.close()


def test_held_readings_survive_as_json_into_another_processor():
    """What a cluster leader commits (held_state) and the next one restores: the same reading, released by the
    same rules (the next reading, or the spike window's end on the wall clock)."""
    clock = Clock()
    p = make(clock)
    send(p, clock, 1, 5.0)
    assert send(p, clock, 2, 5.4).observations == []  # held
    state = json.loads(json.dumps(p.held_state()))
    assert [(h["node_id"], h["sensor_id"], h["value"]) for h in state] == [("n1", "wl", 5.4)]
    successor = make(clock)
    assert successor.restore_held(state) == 1 and successor.held_state() == state
    clock.now += 900 * 2.5 - 1
    assert not successor.held_due()
    clock.now += 2
    assert successor.held_due()
    released = Batch()
    assert successor.release_held(released) == 1
    assert [(o.node_id, o.value, o.flag, o.ts) for o in released.observations] == [
        ("n1", 5.4, "good", T0 + timedelta(minutes=30))
    ]
