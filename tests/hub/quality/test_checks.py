"""Each check alone."""

import math
from datetime import UTC, datetime, timedelta

from hub.quality import checks
from hub.quality.config import FlatLine, GapCheck, HardLimits, Intensity, RateOfChange, SoftLimits, Spike
from hub.quality.flags import CheckName, Flag

T0 = datetime(2025, 10, 14, 0, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_flags_order_by_badness():
    assert Flag.GOOD < Flag.SUSPECT < Flag.BAD
    assert max([Flag.SUSPECT, Flag.BAD, Flag.GOOD]) is Flag.BAD


def test_hard_and_soft_limits():
    hard = HardLimits(min=0, max=10)
    assert checks.hard_limit(5, hard) is None
    assert checks.hard_limit(0, hard) is None  # the limit itself is possible
    found = checks.hard_limit(10.5, hard)
    assert found is not None and found.flag is Flag.BAD and found.check is CheckName.HARD_LIMIT
    assert "above 10" in found.detail
    assert checks.hard_limit(-1, hard) is not None
    assert checks.hard_limit(-1, HardLimits(max=10)) is None
    assert checks.hard_limit(99, HardLimits(min=0, max=10, enabled=False)) is None
    assert checks.hard_limit(99, None) is None
    soft = checks.soft_limit(12, SoftLimits(max=11))
    assert soft is not None and soft.flag is Flag.SUSPECT and soft.check is CheckName.SOFT_LIMIT


def test_not_finite_is_bad():
    assert checks.not_finite(1.0) is None
    for v in (math.nan, math.inf, -math.inf):
        found = checks.not_finite(v)
        assert found is not None and found.flag is Flag.BAD


def test_rate_of_change_scales_with_time_and_has_separate_rise_and_fall():
    cfg = RateOfChange(max_rise_per_h=2.0, max_fall_per_h=1.0)
    assert checks.rate_of_change(at(0), 5.0, at(15), 5.5, cfg) is None  # 0.5 m in 15 min = 2 m/h exactly
    rise = checks.rate_of_change(at(0), 5.0, at(15), 5.6, cfg)
    assert rise is not None and rise.check is CheckName.RATE_OF_CHANGE and rise.flag is Flag.SUSPECT
    assert "rose" in rise.detail
    assert checks.rate_of_change(at(0), 5.0, at(60), 6.9, cfg) is None  # same change over an hour is fine
    assert checks.rate_of_change(at(0), 5.0, at(15), 4.6, cfg) is not None  # falls are slower: 1.6 m/h > 1
    assert checks.rate_of_change(at(0), 5.0, at(15), 4.6, RateOfChange(max_rise_per_h=2.0)) is None
    # The allowance covers sensor noise on short intervals.
    noisy = RateOfChange(max_rise_per_h=2.0, max_fall_per_h=1.0, allowance=0.02)
    assert checks.rate_of_change(at(0), 5.0, at(1), 5.05, noisy) is None
    assert checks.rate_of_change(at(0), 5.0, at(0), 9.0, cfg) is None  # no time between: not asked


def test_spike_needs_both_neighbours_on_the_same_side():
    cfg = Spike(threshold=0.3)
    found = checks.spike(5.0, 7.5, 5.01, cfg)
    assert found is not None and found.flag is Flag.BAD and found.check is CheckName.SPIKE
    assert checks.spike(5.0, 4.0, 5.0, cfg) is not None  # downward too
    assert checks.spike(5.0, 5.2, 5.0, cfg) is None  # under the threshold
    assert checks.spike(5.0, 6.0, 7.0, cfg) is None  # a steady rise is not a spike
    assert checks.spike(5.0, 6.0, 5.8, cfg) is None  # a step that stays up is not a spike
    assert checks.spike(5.0, 7.5, 5.0, Spike(threshold=0.3, enabled=False)) is None


def test_flat_line_needs_duration_and_count_and_skips_normal_values():
    cfg = FlatLine(duration_s=3600, min_readings=4)
    assert checks.flat_line(3.2, at(0), 4, at(59), cfg) is None  # not long enough
    assert checks.flat_line(3.2, at(0), 3, at(120), cfg) is None  # not enough readings
    found = checks.flat_line(3.2, at(0), 5, at(60), cfg)
    assert found is not None and found.check is CheckName.FLAT_LINE and found.flag is Flag.SUSPECT
    humid = FlatLine(duration_s=3600, normal_values=[100.0])
    assert checks.flat_line(100.0, at(0), 50, at(600), humid) is None  # saturated air stays at 100 %


def test_intensity_of_rain_increments():
    cfg = Intensity(max_per_h=200.0)
    assert checks.intensity(30.0, 300, cfg) is None  # a 30 mm burst in 5 min counts over an hour: 30 mm/h
    found = checks.intensity(250.0, 300, cfg)
    assert found is not None and found.check is CheckName.INTENSITY
    assert checks.intensity(400.0, 3 * 3600, cfg) is None  # an outage's carried rain over 3 h: 133 mm/h


def test_gap_is_an_event_sized_in_intervals():
    cfg = GapCheck()
    assert checks.gap(at(0), at(37.5), 900, cfg) is None  # 2.5 intervals of 15 min is allowed
    g = checks.gap(at(0), at(60), 900, cfg)
    assert g is not None and g.missing == 3 and g.duration_s == 3600
    assert checks.gap(at(0), at(600), None, cfg) is None  # no interval known: nothing to measure against
    assert checks.gap(at(0), at(600), 900, GapCheck(enabled=False)) is None
