"""Series on one hourly grid: each station's values at the same whole hours, short gaps bridged."""

from __future__ import annotations

import math
from datetime import datetime

from hub.forecast.base import HourlySeries

NAN = float("nan")

# A gap this short is bridged with the last value before it: a missed transmission or one rejected reading
# changes a river's stage by little, while dropping every hour that touches it would cost whole days of fitting
# rows at a flaky station. Longer gaps stay missing.
MAX_FILL_H = 3


def hours_between(a: datetime, b: datetime) -> int:
    """Whole hours from ``a`` to ``b``; ValueError when they are not a whole number of hours apart."""
    seconds = (b - a).total_seconds()
    hours = round(seconds / 3600.0)
    if abs(seconds - hours * 3600.0) > 1e-6:
        raise ValueError(f"{b.isoformat()} is not a whole number of hours after {a.isoformat()}")
    return hours


def on_grid(series: HourlySeries | None, start: datetime, n: int, max_fill_h: int = MAX_FILL_H) -> list[float]:
    """``series``' values at ``start``, ``start`` + 1 h, ... (``n`` hours); NaN where it has none.

    Gaps of up to ``max_fill_h`` hours between two values are filled with the value before them.
    """
    out = [NAN] * n
    if series is None:
        return out
    offset = hours_between(start, series.start)  # index in ``out`` of the series' first value
    for j, v in enumerate(series.values):
        i = offset + j
        if 0 <= i < n:
            out[i] = float(v)
    return fill_gaps(out, max_fill_h)


def fill_gaps(values: list[float], max_fill_h: int = MAX_FILL_H) -> list[float]:
    """Missing runs of at most ``max_fill_h`` hours that have a value before them take that value.

    A run at the very end is filled too (up to the same length): at issue time the latest hour is often the one
    not yet reported.
    """
    out = list(values)
    last = NAN
    run = 0
    for i, v in enumerate(values):
        if math.isnan(v):
            run += 1
            continue
        if run and run <= max_fill_h and not math.isnan(last):
            for k in range(i - run, i):
                out[k] = last
        last, run = v, 0
    if run and run <= max_fill_h and not math.isnan(last):
        for k in range(len(values) - run, len(values)):
            out[k] = last
    return out
