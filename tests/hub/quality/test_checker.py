"""The per-sensor checker on sequences: spikes judged one reading late, steps, flat lines, gaps, repeats, late data."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from hub.quality.checker import RECENT, QualityChecker, Verdict, intervals_from_nodes
from hub.quality.config import QualityConfig
from hub.quality.flags import CheckName, Flag
from wire.quantities import Quantity

T0 = datetime(2025, 10, 14, 0, 0, tzinfo=UTC)
NODE, SENSOR = "river-01", "stage"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def checker(**config) -> QualityChecker:
    return QualityChecker(QualityConfig.model_validate(config), intervals={(NODE, SENSOR): 900.0})


def feed(qc: QualityChecker, values, step_min: float = 15.0, quantity="water_level") -> list[Verdict]:
    return [qc.check(NODE, SENSOR, quantity, at(i * step_min), v) for i, v in enumerate(values)]


def test_steady_readings_are_good():
    verdicts = feed(checker(), [5.0 + 0.01 * (i % 3) for i in range(50)])
    assert {v.flag for v in verdicts} == {Flag.GOOD}
    assert all(v.check is None and not v.revised and v.gap is None for v in verdicts)


def test_a_large_spike_is_suspect_at_once_and_bad_one_reading_later():
    v = feed(checker(), [5.0, 5.01, 7.5, 5.02, 5.03])
    assert v[2].flag is Flag.SUSPECT and v[2].check is CheckName.RATE_OF_CHANGE  # no wait for the obvious
    assert v[3].flag is Flag.GOOD  # compared with the last trusted reading, not with the spike
    (rev,) = v[3].revised
    assert (rev.start, rev.end, rev.flag, rev.check) == (at(30), at(30), Flag.BAD, CheckName.SPIKE)
    assert v[4].flag is Flag.GOOD and not v[4].revised


def test_a_spike_under_the_rate_limit_is_caught_by_the_spike_check():
    # 0.4 m in 15 min is within 2 m/h + allowance, but sticks out of line with both neighbours.
    v = feed(checker(), [5.0, 5.0, 5.4, 5.0, 5.0])
    assert v[2].flag is Flag.GOOD and v[2].provisional  # the next reading decides: whoever acts on it waits
    assert v[3].flag is Flag.GOOD and v[3].revised[0].check is CheckName.SPIKE
    assert not any(x.provisional for x in v[:2] + v[3:])


def test_only_a_jump_beyond_the_spike_threshold_is_provisional():
    # A real rise of 0.4 m per reading (1.6 m/h, under the rate limit): each step could be a spike until the
    # next one carries on; rises of 0.2 m per reading never could.
    fast = feed(checker(), [5.0, 5.4, 5.8, 6.2, 6.2])
    assert [x.provisional for x in fast] == [False, True, True, True, False]
    assert not any(x.revised for x in fast)
    slow = feed(checker(), [5.0, 5.2, 5.4, 5.6, 5.8])
    assert not any(x.provisional for x in slow)


def test_the_spike_window_follows_the_sensor_interval():
    qc = checker()
    assert qc.spike_window_s(NODE, SENSOR, "water_level") is None  # not heard from yet
    feed(qc, [5.0])
    assert qc.spike_window_s(NODE, SENSOR, "water_level") == 900.0 * 2.5


def test_two_spikes_in_a_row_do_not_take_good_readings_with_them():
    v = feed(checker(), [5.0, 5.0, 7.5, 7.5, 5.0, 5.0, 5.0])
    assert v[2].flag is Flag.SUSPECT
    assert [v[i].flag for i in (4, 5, 6)] == [Flag.GOOD] * 3
    assert [r.start for r in v[4].revised] == [at(45)]  # the second spike; the first was flagged at once


def test_a_real_step_is_followed_after_two_agreeing_readings():
    # A gauge re-levelled, or a gate opened: the new level holds, so the checker follows it.
    v = feed(checker(), [5.0, 5.0, 8.0, 8.0, 8.01, 8.0])
    assert v[2].flag is Flag.SUSPECT
    assert [x.flag for x in v[3:]] == [Flag.GOOD] * 3
    assert not any(x.revised for x in v)


def test_a_steady_flood_rise_is_good():
    # 1.5 m/h for 6 hours: fast for a big river, within the default limits.
    v = feed(checker(), [5.0 + 0.375 * i for i in range(25)])
    assert {x.flag for x in v} == {Flag.GOOD}


def test_flat_line_flags_the_run_and_revises_its_start():
    values = [5.0, 5.01, 5.02] + [5.03] * 30 + [5.1]
    v = feed(checker(), values)  # 15-min readings: 6 h is 24 intervals
    first_flagged = next(i for i, x in enumerate(v) if x.flag is Flag.SUSPECT)
    assert v[first_flagged].check is CheckName.FLAT_LINE
    assert (first_flagged - 3) * 15 >= 360  # not before 6 h of the same value
    (rev,) = v[first_flagged].revised
    assert rev.start == at(45) and rev.end == at(first_flagged * 15)
    assert all(x.flag is Flag.SUSPECT for x in v[first_flagged:-1])
    assert v[-1].flag is Flag.GOOD  # moving again
    assert sum(1 for x in v if x.revised) == 1  # the run is revised once


def test_reservoirs_may_hold_still_longer_than_rivers():
    qc = checker()
    v = feed(qc, [30.0] * 40, quantity="reservoir_level")  # 10 h
    assert {x.flag for x in v} == {Flag.GOOD}


def test_rain_at_zero_for_days_is_good():
    qc = checker()
    v = feed(qc, [0.0] * 2000, step_min=5, quantity="rainfall")
    assert {x.flag for x in v} == {Flag.GOOD}
    assert qc.check(NODE, SENSOR, "rainfall", at(2000 * 5), -0.2).flag is Flag.BAD


def test_hard_limit_values_are_bad_and_never_a_reference():
    v = feed(checker(), [5.0, 5.0, -99.0, 5.0, 5.0])
    assert v[2].flag is Flag.BAD and v[2].check is CheckName.HARD_LIMIT
    assert [x.flag for x in v[3:]] == [Flag.GOOD, Flag.GOOD]
    assert not any(x.revised for x in v)
    nan = checker().check(NODE, SENSOR, "water_level", at(0), math.nan)
    assert nan.flag is Flag.BAD


def test_gap_event_when_the_next_reading_comes():
    qc = checker()
    feed(qc, [5.0, 5.0])
    v = qc.check(NODE, SENSOR, "water_level", at(15 + 120), 5.0)  # 2 h after the last: 7 missing
    assert v.flag is Flag.GOOD and v.gap is not None
    assert (v.gap.after, v.gap.before, v.gap.missing) == (at(15), at(135), 7)
    # No interval known for a sensor: no gap events.
    other = QualityChecker().check(NODE, "x", "water_level", at(0), 5.0)
    assert other.gap is None


def test_a_spike_is_not_judged_across_a_gap():
    qc = checker()
    feed(qc, [5.0, 5.0, 6.0])
    v = qc.check(NODE, SENSOR, "water_level", at(30 + 600), 5.0)  # ten hours later, back down
    assert not v.revised and v.gap is not None


def test_exact_repeats_get_the_same_verdict_as_revised_since():
    qc = checker()
    first = feed(qc, [5.0, 5.0, 5.4, 5.0])
    assert first[2].flag is Flag.GOOD  # judged a spike only by the next reading
    again = qc.check(NODE, SENSOR, "water_level", at(30), 5.4)  # the outbox replays it
    assert again.flag is Flag.BAD and again.check is CheckName.SPIKE
    assert qc.check(NODE, SENSOR, "water_level", at(15), 5.0).flag is Flag.GOOD
    # The repeat changes nothing: the next new reading is judged as if it never came.
    assert qc.check(NODE, SENSOR, "water_level", at(60), 5.0) == Verdict()


def test_a_different_value_for_a_seen_instant_is_suspect():
    qc = checker()
    feed(qc, [5.0, 5.0, 5.0])
    v = qc.check(NODE, SENSOR, "water_level", at(15), 5.2)
    assert v.flag is Flag.SUSPECT and v.check is CheckName.DUPLICATE


def test_late_readings_are_judged_on_limits_and_rate_without_moving_the_state():
    qc = checker()
    feed(qc, [5.0, 5.0, 5.0, 5.0])
    late = qc.check(NODE, SENSOR, "water_level", at(20), 5.01)
    assert late.late and late.flag is Flag.GOOD
    late_bad = qc.check(NODE, SENSOR, "water_level", at(25), 9.0)
    assert late_bad.late and late_bad.check is CheckName.RATE_OF_CHANGE
    assert qc.check(NODE, SENSOR, "water_level", at(1), 2000.0).check is CheckName.HARD_LIMIT
    # Far older than anything remembered: limits only.
    assert qc.check(NODE, SENSOR, "water_level", at(-1000), 5.0) == Verdict(late=True)
    assert qc.check(NODE, SENSOR, "water_level", at(60), 5.0) == Verdict()


def test_memory_is_bounded_per_sensor_and_in_sensors():
    qc = QualityChecker(max_sensors=3)
    for i in range(1000):
        qc.check(NODE, SENSOR, "water_level", at(i), 5.0 + (i % 2) * 0.01)
    state = next(iter(qc._sensors.values()))
    assert len(state.recent) == RECENT
    for n in range(10):
        qc.check(f"n{n}", SENSOR, "water_level", at(0), 5.0)
    assert len(qc) == 3
    qc.forget("n9")
    assert len(qc) == 2


def test_per_station_overrides_apply():
    qc = checker(stations=[{"node_id": NODE, "sensor_id": SENSOR, "soft_limits": {"max": 10.0}}])
    assert qc.check(NODE, SENSOR, "water_level", at(0), 10.5).check is CheckName.SOFT_LIMIT
    assert qc.check("other", SENSOR, "water_level", at(0), 10.5).flag is Flag.GOOD


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        QualityChecker().check(NODE, SENSOR, "water_level", datetime(2025, 1, 1), 5.0)


def test_intervals_from_node_registry_entries():
    class Info:
        node_id = "n1"
        sensors = (("stage", "water_level", 900.0), ("rain", "rainfall", 300))

    assert intervals_from_nodes([Info()]) == {("n1", "stage"): 900.0, ("n1", "rain"): 300.0}


def _fault_mix_readings():
    from simulators.sensors.faults import FaultInjector
    from simulators.sensors.models import create_model
    from tests.hub.quality.test_fault_mix import DAYS, SERIES, _faults, _windows

    for series in SERIES:
        model = create_model(series.model, series.params, 1)
        injector = FaultInjector(_faults(series, _windows(series, 1)), 1)
        t_prev = None
        readings = []
        for k in range(int(DAYS * 86400 / series.interval_s)):
            t = k * series.interval_s
            clean = model.sample(t_prev, t)
            t_prev = t
            value = injector.apply(t, clean).value
            if value is not None:
                readings.append((T0 + timedelta(seconds=t), value))
        yield series, readings


def test_fast_path_full_path_and_check_epoch_agree_verdict_by_verdict():
    # The fault mix, with repeats and late readings mixed in: every verdict, revision and gap the same.
    for series, readings in _fault_mix_readings():
        intervals = {(NODE, SENSOR): series.interval_s}
        fast, full = QualityChecker(intervals=intervals), QualityChecker(intervals=intervals, fast_path=False)
        epoch = QualityChecker(intervals=intervals)
        for i, (ts, value) in enumerate(readings):
            sent = [(ts, value)]
            if i % 97 == 0 and i > 3:
                sent += [readings[i - 2], (readings[i - 1][0] + timedelta(seconds=1), value)]
            for t, v in sent:
                a = fast.check(NODE, SENSOR, series.quantity, t, v)
                b = full.check(NODE, SENSOR, series.quantity, t, v)
                c = epoch.check_epoch(NODE, SENSOR, series.quantity, t.timestamp(), v)
                assert a == b == c, (series.quantity, t, v)


def test_check_epoch_judges_as_check_does():
    qc = checker()
    v = [qc.check_epoch(NODE, SENSOR, "water_level", at(i * 15).timestamp(), x) for i, x in enumerate([5.0, 5.0, 7.5])]
    assert v[2].flag is Flag.SUSPECT and v[2].check is CheckName.RATE_OF_CHANGE
    gap = qc.check_epoch(NODE, SENSOR, "water_level", at(30 + 180).timestamp(), 5.0).gap
    assert gap is not None and gap.after == at(30) and gap.before.tzinfo is not None
    assert qc.check_epoch(NODE, SENSOR, "water_level", at(15).timestamp(), 5.0) == Verdict()  # a repeat


def test_the_sensor_heard_from_least_recently_is_forgotten_first():
    qc = QualityChecker(max_sensors=3)
    for n in ("a", "b", "c"):
        qc.check(n, SENSOR, "water_level", at(0), 5.0)
    qc.check("a", SENSOR, "water_level", at(1), 5.0)  # a heard again: b is now the least recent
    qc.check("d", SENSOR, "water_level", at(1), 5.0)
    assert sorted(k[0] for k in qc._sensors) == ["a", "c", "d"]
    # A quantity given as its string and as the member is the same sensor.
    qc.check("c", SENSOR, Quantity.WATER_LEVEL, at(1), 5.0)
    assert len(qc) == 3 and qc.check("c", SENSOR, "water_level", at(1), 5.0) == Verdict()
    with pytest.raises(ValueError):
        qc.check("e", SENSOR, "no_such_quantity", at(1), 5.0)


def test_infinity_and_nan_never_take_the_fast_path():
    qc = QualityChecker(QualityConfig.model_validate({"defaults": {"water_level": {"hard_limits": None}}}))
    feed(qc, [5.0, 5.0])
    assert qc.check(NODE, SENSOR, "water_level", at(30), math.inf).flag is Flag.BAD
    assert qc.check(NODE, SENSOR, "water_level", at(45), math.nan).flag is Flag.BAD
