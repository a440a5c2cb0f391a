"""Hourly hydrographs for the forecast benchmark: seeded storm seasons, a routed reach, the rating."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

from simulators.sensors.hydrology import Routing
from simulators.sensors.routing import (
    gain_for_peak,
    gauge_rain,
    hourly_runoff,
    route_reach,
    seeded_storms,
    stage_from_flow,
    with_noise,
)
from wire.nodeconfig.simulated import Burst

TEMPLATE = [Burst(start_s=0, duration_s=36000, total_mm=100), Burst(start_s=72000, duration_s=18000, total_mm=50)]


def test_seasons_differ_by_seed_and_repeat_for_the_same_seed() -> None:
    a, b = seeded_storms(TEMPLATE, 1, 30), seeded_storms(TEMPLATE, 2, 30)
    assert a == seeded_storms(TEMPLATE, 1, 30)
    assert a != b
    starts = [bursts[0].start_s / 3600 for _, bursts in a]
    assert starts[0] == 48.0 and all(s2 - s1 >= 72.0 for s1, s2 in pairwise(starts))
    assert all(s < 30 * 24 for s in starts)
    assert len({round(scale, 6) for scale, _ in a}) == len(a)  # every storm its own size


def test_runoff_conserves_the_rain() -> None:
    q = hourly_runoff(Routing(3600.0, 7200.0, 2), TEMPLATE, 24 * 6)
    assert sum(q) == pytest.approx(150.0, rel=0.01)  # hourly samples of the rate, summed over hours: the depth


def test_reach_delays_and_flattens() -> None:
    pulse = [0.0] * 10 + [10.0] * 3 + [0.0] * 40
    out = route_reach(pulse, 6.0, 3.0)
    assert out[:16] == [0.0] * 16  # nothing arrives before the travel time
    assert max(out) < 10.0  # attenuated
    assert out.index(max(out)) >= 18
    assert sum(out) == pytest.approx(30.0, rel=0.02)  # the volume all comes out
    assert route_reach(pulse, 2.5, 0.0)[12] == pytest.approx(5.0)  # 9.5 h of inflow: half way up the step


def test_rating_and_its_calibration() -> None:
    gain = gain_for_peak(8.0, 7.0, 11.9, 1.5)
    assert stage_from_flow([0.0, 8.0], 7.0, gain, 1.5) == pytest.approx([7.0, 11.9])
    with pytest.raises(ValueError):
        gain_for_peak(0.0, 7.0, 11.9, 1.5)


def test_noise_and_missing_hours() -> None:
    clean = [5.0] * 2000
    noisy = with_noise(clean, 4, 0.01, 0.05)
    gone = sum(math.isnan(v) for v in noisy)
    assert 50 < gone < 150
    kept = [v - 5.0 for v in noisy if not math.isnan(v)]
    assert 0.008 < math.sqrt(sum(e * e for e in kept) / len(kept)) < 0.012
    again = with_noise(clean, 4, 0.01, 0.05)
    assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(noisy, again, strict=True))


def test_a_gauge_reports_the_storms_rain_with_its_own_spread_in_whole_tips() -> None:
    storms = seeded_storms(TEMPLATE, 4, 20)
    total = sum(b.total_mm for _, bursts in storms for b in bursts)
    exact = gauge_rain(storms, 20 * 24, 1, resolution_mm=0)
    assert math.isclose(sum(exact), total, rel_tol=1e-9)  # the whole season fell within it
    tipped = gauge_rain(storms, 20 * 24, 1, jitter=0.3, shift_s=3600)
    assert all(abs(v / 0.2 - round(v / 0.2)) < 1e-6 for v in tipped)  # whole 0.2 mm tips
    assert 0.7 * total - 0.2 <= sum(tipped) <= 1.3 * total
    assert tipped != gauge_rain(storms, 20 * 24, 2, jitter=0.3, shift_s=3600)  # gauges differ
    assert tipped == gauge_rain(storms, 20 * 24, 1, jitter=0.3, shift_s=3600)  # and repeat
    # Rain comes before the runoff it makes: the first wet hour precedes the basin's rise.
    first_wet = next(h for h, v in enumerate(exact) if v > 0)
    flow = hourly_runoff(Routing(3600, 7200, 2), [b for _, bs in storms for b in bs], 20 * 24)
    assert flow[first_wet - 1] == 0 and first_wet <= next(h for h, q in enumerate(flow) if q > 0)
