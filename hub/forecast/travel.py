"""Travel time from an upstream gauge, found in the history as the lag at which the two stations' rises agree.

Levels themselves correlate at almost any lag (a flood lasts days), so the search correlates *changes* over a
few hours: a rise upstream shows as a rise downstream one travel time later.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

CHANGE_H = 3
# Below this correlation the upstream's rises do not announce this station's: the gauge is not used.
MIN_CORRELATION = 0.3


def _changes(values: Sequence[float], k: int) -> list[float]:
    nan = float("nan")
    return [values[i] - values[i - k] if i >= k else nan for i in range(len(values))]


def _correlation(a: Sequence[float], b: Sequence[float]) -> tuple[float, int]:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not (math.isnan(x) or math.isnan(y))]
    n = len(pairs)
    if n < 24:
        return float("nan"), n
    mx = sum(p[0] for p in pairs) / n
    my = sum(p[1] for p in pairs) / n
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    syy = sum((y - my) ** 2 for _, y in pairs)
    if sxx <= 0 or syy <= 0:
        return float("nan"), n
    return sxy / math.sqrt(sxx * syy), n


def find_travel_time(own: Sequence[float], upstream: Sequence[float], max_lag_h: int) -> tuple[int, float]:
    """(lag in hours, correlation) maximising the correlation of 3-hour changes, upstream leading.

    The correlation is NaN when no lag has enough overlapping hours or either station never changes.
    """
    dy = _changes(own, CHANGE_H)
    du = _changes(upstream, CHANGE_H)
    best_lag, best = 0, float("nan")
    for lag in range(0, max_lag_h + 1):
        if lag >= len(dy):
            break
        r, _ = _correlation(du[: len(du) - lag], dy[lag:])
        if not math.isnan(r) and (math.isnan(best) or r > best):
            best_lag, best = lag, r
    return best_lag, best
