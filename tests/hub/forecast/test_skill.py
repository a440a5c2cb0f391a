"""Skill scores and warning matching, on figures worked by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from hub.forecast.skill import IssuedWarning, ObservedCrossing, nse, observed_crossings, rmse, score_warnings, skill

T0 = datetime(2026, 10, 1, tzinfo=UTC)
H = timedelta(hours=1)


def test_nse_perfect_mean_and_worse() -> None:
    obs = [1.0, 2.0, 3.0, 4.0]
    assert nse(obs, obs) == 1.0
    assert nse([2.5] * 4, obs) == pytest.approx(0.0)  # the observed mean scores 0
    assert nse([4.0, 3.0, 2.0, 1.0], obs) == pytest.approx(1 - 20 / 5)
    assert math.isnan(nse([1.0, 1.0], [2.0, 2.0]))  # observations that never vary


def test_nan_pairs_are_skipped() -> None:
    assert rmse([1.0, math.nan, 3.0], [2.0, 5.0, 3.0]) == pytest.approx(math.sqrt(0.5))
    assert nse([1.0, 2.0, math.nan], [1.0, 2.0, 7.0]) == 1.0
    with pytest.raises(ValueError, match="2 forecasts for 3 observations"):
        rmse([1.0, 2.0], [1.0, 2.0, 3.0])


def test_skill_against_persistence() -> None:
    obs = [1.0, 2.0, 3.0, 4.0]
    persistence = [0.0, 1.0, 2.0, 3.0]  # always 1 m behind
    half = [0.5, 1.5, 2.5, 3.5]  # 0.5 m behind: a quarter of the squared error
    assert skill(half, persistence, obs) == pytest.approx(0.75)
    assert skill(persistence, persistence, obs) == 0.0
    assert skill([-1.0, 0.0, 1.0, 2.0], persistence, obs) == pytest.approx(-3.0)
    # The "NSE skill" identity: (NSE_f - NSE_p) / (1 - NSE_p).
    nf, np_ = nse(half, obs), nse(persistence, obs)
    assert skill(half, persistence, obs) == pytest.approx((nf - np_) / (1 - np_))


def test_observed_crossings_interpolated_and_spans_above() -> None:
    times = [T0 + i * H for i in range(6)]
    levels = [9.0, 9.4, 9.8, 9.6, 9.2, math.nan]
    found, spans = observed_crossings(times, levels, [("BĐ1", 9.5)])
    assert found == [ObservedCrossing("BĐ1", T0 + 1.25 * H)]
    assert spans == [("BĐ1", T0 + 2 * H, T0 + 3 * H)]
    # A series that starts above the threshold has no crossing there, only a span.
    found, spans = observed_crossings(times[:2], [9.7, 9.8], [("BĐ1", 9.5)])
    assert found == [] and spans == [("BĐ1", T0, T0 + H)]


def test_hits_need_the_lead_time_and_false_warnings_need_no_crossing() -> None:
    crossing = ObservedCrossing("BĐ1", T0 + 20 * H)
    early = IssuedWarning("BĐ1", T0 + 5 * H, T0 + 19 * H)  # 15 h ahead: a hit
    later = IssuedWarning("BĐ1", T0 + 12 * H, T0 + 20 * H)
    late = IssuedWarning("BĐ1", T0 + 17 * H, T0 + 20 * H)  # 3 h ahead: true, but not a 6 h warning
    wrong = IssuedWarning("BĐ2", T0 + 10 * H, T0 + 18 * H)  # BĐ2 never reached
    s = score_warnings([early, later, late, wrong], [crossing])
    assert (s.crossings, s.hits, s.warnings, s.false_warnings) == (1, 1, 4, 1)
    assert s.lead_times_h == (15.0,)  # from the earliest warning
    assert s.hit_rate == 1.0 and s.false_warning_rate == 0.25 and s.median_lead_h == 15.0

    s = score_warnings([late], [crossing])
    assert s.hits == 0 and s.hit_rate == 0.0 and s.false_warnings == 0

    # A warning issued while the level was already above counts as true, not false.
    s = score_warnings([wrong], [], [("BĐ2", T0 + 30 * H, T0 + 40 * H)])
    assert s.false_warnings == 0
    # A warning whose window outlasts the observations is not judged.
    s = score_warnings([wrong], [], verifiable_until=T0 + 20 * H)
    assert s.warnings == 0 and math.isnan(s.false_warning_rate)
