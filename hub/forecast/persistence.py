"""Persistence: the level stays where it is. The baseline every other method has to beat, and the fallback.

Its band is the spread of the station's own historical changes over the same number of hours, taken at hours
when the river was moving about as fast as at the issue time (bands.py): at a station whose floods rise 2 m in
6 h, a 6-hour persistence forecast issued on a rising river is honest only with a band that wide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hub.forecast.bands import activity


def change_pairs(own: Sequence[float], h: int) -> list[tuple[float, float]]:
    """(activity at the start, change over the next ``h`` hours) for every hour with a value at both ends."""
    out = []
    for i in range(len(own) - h):
        a, b = own[i], own[i + h]
        if not (math.isnan(a) or math.isnan(b)):
            out.append((activity(own, i), b - a))
    return out
