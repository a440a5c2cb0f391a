"""The regression's predictors at one issue hour and one horizon: what the station and its upstream gauges say.

Everything is read at or before the issue hour, so a forecast uses only what was measured by then. The target is
the change of the station's level over the horizon (not the level itself), and every predictor is a change too:
a river that is steady here and upstream is forecast to stay where it is, whatever level it sits at, so a model
fitted on a month with a flood does not drift a calm river towards that month's mean (and the other way round).
Each coefficient reads as "metres of rise per metre of change at ...".

Where the station has rain gauges, the basin's rain over the last hours, in consecutive windows, is a predictor
too: water that has fallen and not yet reached the river. It is the one predictor that is not a change, and needs
not be: no rain predicts no rise from rain, so a dry basin still leaves a steady river where it is. Each of its
coefficients reads as "metres of rise per millimetre that fell ... hours ago".

Where the station's basin has rain forecasts (hub/forecast/rain_forecast.py), the rain forecast to fall over the
horizon is one more predictor, "metres of rise per millimetre forecast": the only way to see a rise that the rain
which has fallen does not yet announce.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Own changes over these many hours: the current trend and how it is bending.
OWN_CHANGES_H = (1, 3, 6)
UPSTREAM_TREND_H = 3
# Basin rain summed over these windows of hours before the issue hour: (newest, oldest], consecutive and
# disjoint, so each coefficient is the response to rain of one age. The 0-3 h window is still on its way
# through the basin at every horizon; the older ones are arriving or have passed, and say how much more will.
RAIN_WINDOWS_H = ((0, 3), (3, 6), (6, 12), (12, 24))


@dataclass(frozen=True)
class UpstreamLag:
    """An upstream gauge as the regression uses it: its travel time rounded to whole hours."""

    station_id: str
    travel_h: int


def feature_names(upstream: Sequence[UpstreamLag], rain: bool = False, rain_ahead: bool = False) -> list[str]:
    names = [f"change_{k}h" for k in OWN_CHANGES_H]
    for u in upstream:
        if u.travel_h > 0:
            names.append(f"{u.station_id}:arrived_change")
        names.append(f"{u.station_id}:change_{UPSTREAM_TREND_H}h")
    if rain:
        names += [f"rain_{a}_{b}h" for a, b in RAIN_WINDOWS_H]
    if rain_ahead:
        names.append("rain_forecast_ahead")
    return names


def lookback_h(upstream: Sequence[UpstreamLag], rain: bool = False) -> int:
    """How many hours before the issue hour the predictors reach back."""
    reach = [max(OWN_CHANGES_H), UPSTREAM_TREND_H] + [u.travel_h for u in upstream]
    if rain:
        reach.append(RAIN_WINDOWS_H[-1][1])
    return max(reach)


def rain_features(rain: Sequence[float], i: int) -> list[float] | None:
    """The basin rain (mm) of each window before issue index ``i``; None when an hour of it is missing."""
    if i - RAIN_WINDOWS_H[-1][1] + 1 < 0:
        return None
    out = []
    for newest, oldest in RAIN_WINDOWS_H:
        window = rain[i - oldest + 1 : i - newest + 1]
        total = math.fsum(window)
        if math.isnan(total):
            return None
        out.append(total)
    return out


def features(
    own: Sequence[float],
    ups: Sequence[Sequence[float]],
    upstream: Sequence[UpstreamLag],
    i: int,
    h: int,
    rain: Sequence[float] | None = None,
    rain_ahead: float | None = None,
) -> list[float] | None:
    """The predictors at issue index ``i`` for horizon ``h``; None when one of them is missing.

    For an upstream gauge T hours away, the change it saw between T hours ago and T - h hours ago (or up to now,
    when h >= T) is the part of the coming wave that has already passed it: the routing term. Its own trend over
    the last 3 hours stands in for the part that has not reached it yet (horizons beyond the travel time).
    ``rain``, the basin's hourly rain on the same grid, adds the rain windows (``RAIN_WINDOWS_H``);
    ``rain_ahead``, the rain forecast over the horizon (mm; NaN: no forecast), comes last.
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
    if rain is not None:
        r = rain_features(rain, i)
        if r is None:
            return None
        x += r
    if rain_ahead is not None:
        if math.isnan(rain_ahead):
            return None
        x.append(rain_ahead)
    return x


def basin_rain(gauges: Sequence[Sequence[float]]) -> list[float]:
    """Per hour, the mean of the gauges that reported it (NaN when none did): the basin's rain, as plain as it
    gets. A gauge silent for an hour leaves the others to speak for the basin rather than losing the hour."""
    if not gauges:
        return []
    out = []
    for values in zip(*gauges, strict=True):
        seen = [v for v in values if not math.isnan(v)]
        out.append(math.fsum(seen) / len(seen) if seen else math.nan)
    return out
