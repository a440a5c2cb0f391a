"""The regression's predictors at one issue hour and one horizon: what the station and its upstream gauges say.

Everything is read at or before the issue hour, so a forecast uses only what was measured by then. The target is
the change of the station's level over the horizon (not the level itself), and every predictor is a change too:
a river that is steady here and upstream is forecast to stay where it is, whatever level it sits at, so a model
fitted on a month with a flood does not drift a calm river towards that month's mean (and the other way round).
Each coefficient reads as "metres of rise per metre of change at ...".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Own changes over these many hours: the current trend and how it is bending.
OWN_CHANGES_H = (1, 3, 6)
UPSTREAM_TREND_H = 3


@dataclass(frozen=True)
class UpstreamLag:
    """An upstream gauge as the regression uses it: its travel time rounded to whole hours."""

    station_id: str
    travel_h: int


def feature_names(upstream: Sequence[UpstreamLag]) -> list[str]:
    names = [f"change_{k}h" for k in OWN_CHANGES_H]
    for u in upstream:
        if u.travel_h > 0:
            names.append(f"{u.station_id}:arrived_change")
        names.append(f"{u.station_id}:change_{UPSTREAM_TREND_H}h")
    return names


def lookback_h(upstream: Sequence[UpstreamLag]) -> int:
    """How many hours before the issue hour the predictors reach back."""
    return max([max(OWN_CHANGES_H), UPSTREAM_TREND_H] + [u.travel_h for u in upstream])


def features(
    own: Sequence[float], ups: Sequence[Sequence[float]], upstream: Sequence[UpstreamLag], i: int, h: int
) -> list[float] | None:
    """The predictors at issue index ``i`` for horizon ``h``; None when one of them is missing.

    For an upstream gauge T hours away, the change it saw between T hours ago and T - h hours ago (or up to now,
    when h >= T) is the part of the coming wave that has already passed it: the routing term. Its own trend over
    the last 3 hours stands in for the part that has not reached it yet (horizons beyond the travel time).
    """
    if i - lookback_h(upstream) < 0:
        return None
    y = own[i]
    x = [y - own[i - k] for k in OWN_CHANGES_H]
    for series, u in zip(ups, upstream, strict=True):
        if u.travel_h > 0:
            latest = i - max(u.travel_h - h, 0)  # the newest upstream hour whose water arrives within the horizon
            x.append(series[latest] - series[i - u.travel_h])
        x.append(series[i] - series[i - UPSTREAM_TREND_H])
    if any(math.isnan(v) for v in x):
        return None
    return x
