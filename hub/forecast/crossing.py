"""When a forecast reaches a threshold (BĐ1-3 or a reservoir's named level), and how sure it is.

The time is interpolated linearly between the hourly points (and from the current level to the first point), so
a crossing between two points gets a lead time in fractions of an hour. The confidence reads the forecast's 80 %
band as a normal interval: its upper half-width is 1.2816 standard deviations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hub.forecast.base import HOUR, Crossing, Forecast

Z80 = 1.2815515655446004  # the normal quantile at 0.9: an 80 % two-sided interval is mean ± Z80 sd


def _reach_probability(level: float, upper: float, threshold: float) -> float:
    """P(level at that hour >= threshold) for N(level, sd) with sd from the band's upper half."""
    sd = (upper - level) / Z80
    if sd <= 0:
        return 1.0 if level >= threshold else 0.0
    return 0.5 * math.erfc((threshold - level) / (sd * math.sqrt(2.0)))


def crossings(
    forecast: Forecast, thresholds: Sequence[tuple[int, str, float]], current_level: float | None
) -> list[Crossing]:
    """The first crossing of each threshold ``(level, name, threshold_m)`` that ``current_level`` is below.

    A threshold the current level already reaches is not a crossing and is left out. Without a current level the
    forecast's first point stands in for it, so a threshold reached by then is left out too (it may have been
    reached before the issue time). Only the central forecast decides whether a threshold is reached;
    ``confidence`` is the highest chance, over the hours up to the horizon, that the level is at or above it.
    Sorted by expected time.
    """
    points = forecast.points
    if not points:
        return []
    if current_level is not None:
        start_t, start_level = forecast.issued, current_level
        path = [(p.valid, p.level_m) for p in points]
    else:
        start_t, start_level = points[0].valid, points[0].level_m
        path = [(p.valid, p.level_m) for p in points[1:]]
    out = []
    for level, name, threshold in thresholds:
        if start_level >= threshold:
            continue
        prev_t, prev_v = start_t, start_level
        for t, v in path:
            if v >= threshold:
                frac = (threshold - prev_v) / (v - prev_v)
                expected = prev_t + frac * (t - prev_t)
                confidence = max(_reach_probability(p.level_m, p.upper_m, threshold) for p in points)
                lead = (expected - forecast.issued) / HOUR
                out.append(Crossing(level, name, threshold, expected, lead, confidence))
                break
            prev_t, prev_v = t, v
    return sorted(out, key=lambda c: (c.expected, c.level))
