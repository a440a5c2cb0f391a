"""80 % bands that widen when the river is moving: forecast errors are small on a steady river and large on a
rising one, so one band for all hours would be too wide most of the time and far too narrow in a flood.

The hours of the history are split by *activity*, the size of the station's change over the last 3 hours, at its
60th and 90th percentiles (steady, moving, fast); each class gets the 10th-90th percentile spread of the errors
made in it. A forecast takes the band of the class it is issued in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hub.forecast.linalg import quantile

ACTIVITY_H = 3
CLASS_EDGES_Q = (0.6, 0.9)
LOWER_Q, UPPER_Q = 0.10, 0.90
# Fewer errors than this in a class and it borrows the band of all hours: ten points make no 10th percentile.
MIN_PER_CLASS = 20


def activity(own: Sequence[float], i: int) -> float:
    """|level now - level 3 h before| at index ``i``; NaN when either is missing."""
    if i < ACTIVITY_H:
        return math.nan
    return abs(own[i] - own[i - ACTIVITY_H])


def spread(errors: Sequence[float]) -> tuple[float, float]:
    """(lower, upper) offsets of the 80 % band from errors (observed minus forecast), always around zero."""
    if not errors:
        return 0.0, 0.0
    return min(0.0, quantile(errors, LOWER_Q)), max(0.0, quantile(errors, UPPER_Q))


@dataclass(frozen=True)
class Bands:
    edges_m: tuple[float, ...]  # activity class boundaries
    offsets_m: tuple[tuple[float, float], ...]  # one (lower, upper) per class, the last also for unknown activity

    @classmethod
    def fit(cls, pairs: Sequence[tuple[float, float]]) -> Bands:
        """From (activity, error) pairs."""
        acts = [a for a, _ in pairs if not math.isnan(a)]
        edges = tuple(quantile(acts, q) for q in CLASS_EDGES_Q) if acts else ()
        overall = spread([e for _, e in pairs])
        offsets = []
        for k in range(len(edges) + 1):
            lo = edges[k - 1] if k > 0 else -math.inf
            hi = edges[k] if k < len(edges) else math.inf
            errs = [e for a, e in pairs if not math.isnan(a) and lo < a <= hi]
            offsets.append(spread(errs) if len(errs) >= MIN_PER_CLASS else overall)
        return cls(edges, tuple(offsets))

    def at(self, act: float) -> tuple[float, float]:
        if math.isnan(act):
            return self.offsets_m[-1]  # not knowing how fast the river moves, assume the worst class
        k = sum(1 for e in self.edges_m if act > e)
        return self.offsets_m[k]

    def describe(self) -> dict[str, list[float] | list[list[float]]]:
        return {
            "activity_edges_m": [round(e, 4) for e in self.edges_m],
            "offsets_m": [[round(lo, 4), round(hi, 4)] for lo, hi in self.offsets_m],
        }
