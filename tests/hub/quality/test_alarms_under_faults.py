"""No alarm is raised, escalated, lowered or cleared by a faulty reading: the ingest path (Processor with the hub's
quality control, then the alert engine) on seeded fault mixes, each compared with the same river without faults.

Series: the fault-mix rivers of test_fault_mix (a large basin every 5 min, a flashy one every 15 min, where a
0.5 m spike passes the rate check and only the spike check, one reading later, catches it). Each is run clean and
with spikes, stuck windows and dropouts. A transition is charged to a fault when the reading that made it (the
alarm's data time) is a faulty one. Drift is left out: single-station checks do not see it (docs/quality.md).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from hub.alerts.alarm import Transition
from hub.alerts.config import AlertsConfig, RuleTables
from hub.alerts.engine import AlertEngine
from hub.alerts.rules.flood_levels import FloodStation, FloodStationTable
from hub.alerts.store import AlertStore
from hub.ingest.processor import Batch, Processor
from hub.quality.checker import QualityChecker
from hub.store.state import NodeInfo
from tests.hub.quality.test_fault_mix import SERIES, T0, labelled_readings
from tests.support.stations import flood_station
from wire import Topics

NODE, SENSOR = "river-1", "stage"
MOVES = {Transition.CREATED, Transition.ESCALATED, Transition.DEESCALATED, Transition.CLEARED}
RIVERS = {0: (9.5, 10.5, 11.5), 1: (2.0, 3.0, 4.0)}  # BĐ1-3 for SERIES[0] (peak 11.9 m) and SERIES[1] (4.2 m)


def station(bd: tuple[float, float, float]) -> FloodStation:
    return flood_station("st-1", NODE, SENSOR, bd1_m=bd[0], bd2_m=bd[1], bd3_m=bd[2])


def readings(index: int, seed: int, faulty: bool) -> list[tuple[float, float, str]]:
    """(scenario s, value, label) for the river ``SERIES[index]``: label good, spike or stuck (no drift here)."""
    return [(t, value, label) for t, value, label, _ in labelled_readings(SERIES[index], seed, faulty, drift=False)]


def run(index: int, seed: int, faulty: bool, tmp_path) -> tuple[list[tuple[datetime, str, int | None]], dict]:
    """Alarm moves (data time, transition, level) and the labels of the readings, through processor and engine."""
    series = SERIES[index]
    sink: list = []
    engine = AlertEngine(
        AlertsConfig.model_validate({"freshness": {"enabled": False}}),
        RuleTables(flood=FloodStationTable(stations=[station(RIVERS[index])])),
        AlertStore(tmp_path / f"alerts-{index}-{seed}-{faulty}.db"),
        areas={},
        intervals={},
        notify=sink.extend,
        notify_on=set(Transition),
        now=T0,
    )
    now = [T0.timestamp()]
    nodes = {NODE: NodeInfo(NODE, admin_code="01", sensors=((SENSOR, "water_level", series.interval_s),))}
    checker = QualityChecker(intervals={(NODE, SENSOR): series.interval_s})
    processor = Processor(Topics("iocgw"), nodes, watches=engine.wants, clock=lambda: now[0], quality=checker)
    labels = {}
    for seq, (t, value, label) in enumerate(readings(index, seed, faulty), 1):
        ts = T0 + timedelta(seconds=t)
        now[0] = ts.timestamp() + 1
        labels[ts] = label
        body = {"sensor_id": SENSOR, "quantity": "water_level", "value": value, "unit": "m"}
        msg = {"v": 1, "node_id": NODE, "seq": seq, "ts": ts.isoformat(), "readings": [body]}
        batch = Batch()
        processor.handle(f"iocgw/v1/{NODE}/telemetry", json.dumps(msg).encode(), batch)
        processor.release_held(batch)
        assert not batch.dead_letters, batch.dead_letters
        engine.process(batch.observations, now=ts)
    engine.store.close()
    moves = [(a.updated_at, t.value, a.level) for _, a, t in sink if t in MOVES]
    return moves, labels


@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_alarm_moves_on_a_faulty_reading(index, seed, tmp_path):
    clean, _ = run(index, seed, False, tmp_path)
    faulty, labels = run(index, seed, True, tmp_path)
    assert [m[1:] for m in clean][:1] == [("created", 1)], "the river must reach BĐ1 for the test to mean anything"
    charged = [(ts, move, level, labels[ts]) for ts, move, level in faulty if labels[ts] != "good"]
    assert charged == []
    # Without faults the alarm climbs and clears as the river does; with them, every move a fault does not hide
    # (a stuck window can hold the level through a step) is still there, in the same order.
    assert {m[1:] for m in faulty} <= {m[1:] for m in clean} | {("deescalated", 0)}


def test_a_spike_the_rate_check_lets_through_is_caught_before_the_engine_acts(tmp_path):
    # 15-minute readings: +0.5 m is within 2 m/h + allowance, so only the next reading shows it is a spike.
    series = SERIES[1]
    nodes = {NODE: NodeInfo(NODE, admin_code="01", sensors=((SENSOR, "water_level", series.interval_s),))}
    checker = QualityChecker(intervals={(NODE, SENSOR): series.interval_s})
    now = [T0.timestamp()]
    processor = Processor(Topics("iocgw"), nodes, watches=lambda *_: True, clock=lambda: now[0], quality=checker)
    observed = []
    for seq, value in enumerate([1.8, 1.8, 2.3, 1.81, 1.82], 1):
        ts = T0 + timedelta(minutes=15 * seq)
        now[0] = ts.timestamp()
        msg = {"v": 1, "node_id": NODE, "seq": seq, "ts": ts.isoformat()}
        msg["readings"] = [{"sensor_id": SENSOR, "quantity": "water_level", "value": value, "unit": "m"}]
        batch = Batch()
        processor.handle(f"iocgw/v1/{NODE}/telemetry", json.dumps(msg).encode(), batch)
        observed.append([(o.value, o.flag, o.check) for o in batch.observations])
        if seq == 4:  # the reading after the spike re-flags it where it is stored
            assert batch.revisions == 1
            assert any(
                line.endswith(f'quality="bad",qc="spike" {int((ts - timedelta(minutes=15)).timestamp() * 1000)}')
                for line in batch.lines
            )
    assert observed == [
        [(1.8, "good", None)],
        [(1.8, "good", None)],
        [],
        [(2.3, "bad", "spike"), (1.81, "good", None)],
        [(1.82, "good", None)],
    ]
