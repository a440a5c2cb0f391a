"""A new cluster leader's checker warmed up from the readings stored in a real InfluxDB 1.x (hub/quality/warmup.py):
the next readings get the verdicts a checker that saw the whole series gives; an empty one's differ."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.config import HubInflux
from hub.quality.checker import RECENT, QualityChecker, Verdict
from hub.quality.config import BUILTIN_DEFAULTS, QualityConfig
from hub.quality.flags import CheckName, Flag
from hub.quality.warmup import MAX_PER_SENSOR, MIN_PER_SENSOR, latest_query, readings_needed, warm_up
from hub.store.influx import InfluxWriter, Outcome
from hub.store.influx_query import InfluxReader
from hub.store.line_protocol import line
from testkit.localsvc import InfluxDB, free_port
from wire.quantities import Quantity

DB = "iocgw"
T0_MS = int(datetime(2026, 11, 22, tzinfo=UTC).timestamp() * 1000)
STEP_MS = 900_000  # 15-minute readings
INTERVAL_S = 900.0
STEADY = [5.0 + 0.01 * (i % 3) for i in range(30)]

# Per sensor: the readings the previous leader evaluated (all stored), then the ones after the takeover.
CASES: dict[str, tuple[list[float], list[float | None]]] = {
    # The last stored reading sticks out 0.4 m: the first reading after the takeover makes it a spike.
    "spike": ([*STEADY, 5.4], [5.0, 5.01, 5.0]),
    # 1 m in 15 minutes right after the takeover: against the last trusted reading, a rate of change.
    "step": (STEADY, [6.0, 5.0, 5.01]),
    # 5 h of one value before the takeover; 6 h (the flat-line duration) is reached after it.
    "flat": ([*STEADY[:10], *[5.5] * 21], [5.5] * 8),
    # The first reading after the takeover comes after an hour's silence (4 intervals): a gap.
    "gap": (STEADY, [None, None, None, 5.02, 5.01]),
}
SENSORS = [("river-1", name, "water_level") for name in CASES]
INTERVALS = {(node, sensor): INTERVAL_S for node, sensor, _ in SENSORS}


def series(name: str) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(ts_ms, value) before and after the takeover; None in the values is a reading that never came."""
    before, after = CASES[name]
    points = [(T0_MS + i * STEP_MS, v) for i, v in enumerate([*before, *after])]
    return [(t, v) for t, v in points[: len(before)] if v is not None], [
        (t, v) for t, v in points[len(before) :] if v is not None
    ]


def stored_lines(points: dict[str, list[tuple[int, float]]]) -> list[str]:
    """The lines an ingest hub writes in cluster mode (value and seq; the leader adds the flags)."""
    return [
        line("water_level", {"admin_code": "01", "node_id": "river-1", "sensor_id": sensor}, {"value": v, "seq": i}, t)
        for sensor, pts in points.items()
        for i, (t, v) in enumerate(pts)
    ]


def store(influx: InfluxDB, lines: list[str], rp: str | None = None) -> None:
    writer = InfluxWriter(HubInflux(url=influx.url, database=DB, retention_policy=rp, gzip=False))
    try:
        writer.ensure_database()
        assert writer.write(("\n".join(lines) + "\n").encode(), 10.0).outcome is Outcome.WRITTEN
    finally:
        writer.close()


def checker() -> QualityChecker:
    return QualityChecker(intervals=INTERVALS)


def judge(qc: QualityChecker, sensor: str, points: list[tuple[int, float]]) -> list[Verdict]:
    return [qc.check_ms("river-1", sensor, "water_level", t, v) for t, v in points]


@pytest.fixture
def reader(influx: InfluxDB):
    r = InfluxReader(influx.url, DB, timeout=10.0)
    yield r
    r.close()


def test_a_warmed_checker_judges_the_next_readings_as_one_that_saw_the_whole_series(
    influx: InfluxDB, reader: InfluxReader
) -> None:
    store(influx, stored_lines({name: series(name)[0] for name in CASES}), rp="autogen")
    warmed = checker()
    result = warm_up(warmed, reader, SENSORS, intervals=INTERVALS, retention_policy="autogen")
    needed = readings_needed(BUILTIN_DEFAULTS[Quantity.WATER_LEVEL], INTERVAL_S)
    assert result.sensors == len(CASES) and not result.errors
    assert result.readings == sum(min(len(series(n)[0]), needed) for n in CASES)
    for name in CASES:
        before, after = series(name)
        whole = checker()
        judge(whole, name, before)
        want = judge(whole, name, after)
        assert judge(warmed, name, after) == want, name
        assert judge(checker(), name, after) != want, f"{name}: an empty checker would judge it the same"
    # What each case is about, in the whole series' verdicts.
    whole = checker()
    judge(whole, "spike", series("spike")[0])
    assert [r.check for r in judge(whole, "spike", series("spike")[1])[0].revised] == [CheckName.SPIKE]
    whole = checker()
    judge(whole, "step", series("step")[0])
    assert judge(whole, "step", series("step")[1])[0].check is CheckName.RATE_OF_CHANGE
    whole = checker()
    judge(whole, "flat", series("flat")[0])
    flat = judge(whole, "flat", series("flat")[1])
    found = next(v for v in flat if v.revised)
    assert found.check is CheckName.FLAT_LINE
    assert found.revised[0].start == datetime.fromtimestamp((T0_MS + 10 * STEP_MS) / 1000, UTC)  # before the takeover
    whole = checker()
    judge(whole, "gap", series("gap")[0])
    assert judge(whole, "gap", series("gap")[1])[0].gap is not None


def test_readings_already_stored_that_come_again_get_their_earlier_verdicts(
    influx: InfluxDB, reader: InfluxReader
) -> None:
    # The ingest hubs stored a spike, its next reading and a jump beyond the rate of change (a spike too) before
    # the new leader's feed brought them: warmed with them, the feed's copies are repeats with the verdicts the
    # whole series gave.
    points = [(T0_MS + i * STEP_MS, v) for i, v in enumerate([*STEADY, 5.4, 5.0, 6.5, 5.01, 5.0])]
    store(influx, stored_lines({"stage": points}))
    whole = QualityChecker(intervals={("river-1", "stage"): INTERVAL_S})
    judge(whole, "stage", points)
    warmed = QualityChecker(intervals={("river-1", "stage"): INTERVAL_S})
    fed = warm_up(warmed, reader, [("river-1", "stage", "water_level")], intervals={("river-1", "stage"): INTERVAL_S})
    assert fed.readings == readings_needed(BUILTIN_DEFAULTS[Quantity.WATER_LEVEL], INTERVAL_S) < len(points)
    again = points[-5:]
    got = judge(warmed, "stage", again)
    assert [(v.flag, v.check) for v in got] == [
        (Flag.BAD, CheckName.SPIKE),  # as revised by its next reading, in the warm-up
        (Flag.GOOD, None),
        (Flag.BAD, CheckName.SPIKE),  # suspect (rate of change) at once, a spike once its next reading came
        (Flag.GOOD, None),
        (Flag.GOOD, None),
    ]
    assert [f.check for f in got[2].findings] == [CheckName.RATE_OF_CHANGE, CheckName.SPIKE]
    assert got == judge(whole, "stage", again)  # the whole series' checker answers its repeats the same
    assert all(not v.revised for v in got)  # a repeat does not carry its revisions again
    # ... and the live series goes on as in the whole one.
    nxt = [(T0_MS + (len(points) + i) * STEP_MS, v) for i, v in enumerate([5.4, 5.0, 5.0])]
    assert judge(warmed, "stage", nxt) == judge(whole, "stage", nxt)


def test_only_evaluated_leaves_the_readings_no_leader_flagged_to_the_feed(
    influx: InfluxDB, reader: InfluxReader
) -> None:
    # The previous leader evaluated up to a possible spike (5.4, its flag stored); the ingest hubs stored 22 more
    # readings its feed never brought it: the first judges 5.4 a spike, and another spike (5.5) follows.
    evaluated = [(T0_MS + i * STEP_MS, v) for i, v in enumerate([*STEADY, 5.4])]
    tail = [(T0_MS + (len(evaluated) + i) * STEP_MS, v) for i, v in enumerate([5.0, 5.0, 5.5, 5.0, *STEADY[:18]])]
    tags = {"admin_code": "01", "node_id": "river-1", "sensor_id": "stage"}
    flags = [line("water_level", tags, {"quality": "good"}, t) for t, _ in evaluated]
    store(influx, stored_lines({"stage": evaluated + tail}) + flags)
    intervals = {("river-1", "stage"): INTERVAL_S}
    whole = QualityChecker(intervals=intervals)
    judge(whole, "stage", evaluated)
    want = judge(whole, "stage", tail)
    assert [r.check for v in want for r in v.revised] == [CheckName.SPIKE, CheckName.SPIKE]
    sensors = [("river-1", "stage", "water_level")]
    warmed = QualityChecker(intervals=intervals)
    result = warm_up(warmed, reader, sensors, intervals=intervals, only_evaluated=True)
    assert result.readings == readings_needed(BUILTIN_DEFAULTS[Quantity.WATER_LEVEL], INTERVAL_S)
    assert judge(warmed, "stage", tail) == want
    # Fed everything stored, the feed's copies are repeats (the last 16) or late: no revision comes again.
    everything = QualityChecker(intervals=intervals)
    warm_up(everything, reader, sensors, intervals=intervals)
    got = judge(everything, "stage", tail)
    assert [v.late for v in got[:6]] == [True] * 6
    assert not any(v.revised for v in got)


def test_only_the_newest_readings_needed_are_fed_and_other_sensors_are_left_alone(
    influx: InfluxDB, reader: InfluxReader
) -> None:
    points = [(T0_MS + i * STEP_MS, 5.0 + 0.01 * (i % 5)) for i in range(100)]
    store(influx, stored_lines({"stage": points, "other": points[:3]}))
    qc = QualityChecker()
    result = warm_up(qc, reader, [("river-1", "stage", "water_level")], per_sensor=10)
    assert (result.sensors, result.readings) == (1, 10)
    assert len(qc) == 1  # "other" is stored but not asked for
    # The newest 10 were fed: a repeat of the 10th from last is recognised, the 11th from last is late.
    assert not qc.check_ms("river-1", "stage", "water_level", *points[-10]).late
    assert qc.check_ms("river-1", "stage", "water_level", *points[-11]).late


def test_influx_trouble_gives_what_was_done_and_never_raises(influx: InfluxDB, reader: InfluxReader) -> None:
    down = InfluxReader(f"http://127.0.0.1:{free_port()}", DB, timeout=2.0)
    try:
        result = warm_up(checker(), down, SENSORS, intervals=INTERVALS)
    finally:
        down.close()
    assert (result.sensors, result.readings) == (0, 0) and len(result.errors) == 1  # no second try once refused
    # A refused query (no such retention policy) and a quantity with nothing stored: nothing fed, no exception.
    store(influx, stored_lines({"spike": series("spike")[0]}))
    result = warm_up(checker(), reader, SENSORS, retention_policy="no_such_rp")
    assert (result.sensors, result.readings) == (0, 0) and result.errors
    result = warm_up(checker(), reader, [("river-1", "t", "temperature"), ("river-1", "x", "not_a_quantity")])
    assert (result.sensors, result.readings, result.errors) == (0, 0, ())


def test_readings_needed_follow_the_flat_line_duration_over_the_interval() -> None:
    level = BUILTIN_DEFAULTS[Quantity.WATER_LEVEL]  # 6 h
    assert readings_needed(level, 900.0) == 24 + 2
    assert readings_needed(level, 300.0) == 72 + 2
    assert readings_needed(level, 30.0) == MAX_PER_SENSOR  # 722: capped, approximate beyond
    assert readings_needed(BUILTIN_DEFAULTS[Quantity.RESERVOIR_LEVEL], 900.0) == 48 * 4 + 2
    assert readings_needed(level, None) == MIN_PER_SENSOR == RECENT + 2  # no interval: the repeat window
    assert readings_needed(BUILTIN_DEFAULTS[Quantity.RAINFALL], 300.0) == MIN_PER_SENSOR  # no flat-line check
    off = QualityConfig.model_validate({"defaults": {"water_level": {"flat_line": None}}})
    assert readings_needed(off.checks_for(Quantity.WATER_LEVEL, "n", "s"), 60.0) == MIN_PER_SENSOR


def test_the_query_takes_the_newest_per_sensor_across_admin_codes() -> None:
    assert latest_query("water_level", 26, only_evaluated=True) == (
        'SELECT "value" FROM "water_level" WHERE "quality" != \'\' GROUP BY "node_id", "sensor_id" ORDER BY time '
        "DESC LIMIT 26"
    )
    assert latest_query("water_level", 26, "raw") == (
        'SELECT "value" FROM "raw"."water_level" GROUP BY "node_id", "sensor_id" ORDER BY time DESC LIMIT 26'
    )


def test_a_flat_run_longer_than_the_window_is_still_found_but_counted_from_the_window(
    influx: InfluxDB, reader: InfluxReader
) -> None:
    # 10 h of one value (found at 6 h); the warm-up reads 26 readings (6.25 h): the run seems to start there.
    points = [(T0_MS + i * STEP_MS, v) for i, v in enumerate([*STEADY[:5], *[5.5] * 40])]
    store(influx, stored_lines({"flat": points}))
    whole, warmed = checker(), checker()
    judge(whole, "flat", points)
    assert warm_up(warmed, reader, SENSORS, intervals=INTERVALS).readings == 26
    nxt = [(T0_MS + (len(points) + i) * STEP_MS, 5.5) for i in range(3)]
    want, got = judge(whole, "flat", nxt), judge(warmed, "flat", nxt)
    assert [(v.flag, v.check, v.revised) for v in got] == [(v.flag, v.check, v.revised) for v in want]
    assert {v.check for v in got} == {CheckName.FLAT_LINE}
    assert "41 readings" in want[0].detail and "27 readings" in got[0].detail
