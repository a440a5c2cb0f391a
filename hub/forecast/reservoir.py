"""A reservoir's level forecast by mass balance: what flows in, minus what is released, through the storage curve.

Each hour the stored volume changes by (inflow - release) x 3600 s; the level is read back from the
level-storage curve. The band comes from the inflow alone (releases are the operator's plan, taken as exact):
the forecast inflow is assumed wrong by one relative error of the same sign all horizon long, with standard
deviation ``inflow_uncertainty``, so the 80 % band is the balance run with inflow x (1 ± 1.2816 sd).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from datetime import datetime

from hub.forecast.base import HOUR, Forecast, ForecastPoint
from hub.forecast.config import ReservoirForecastConfig
from hub.forecast.crossing import Z80


class StorageCurve:
    """Volume from level and back, linear between the surveyed points, extended along the end segments."""

    def __init__(self, points: Sequence[tuple[float, float]]) -> None:
        self.levels = [p[0] for p in points]
        self.volumes = [p[1] for p in points]

    @staticmethod
    def _interp(x: float, xs: list[float], ys: list[float]) -> float:
        i = min(max(bisect.bisect_right(xs, x) - 1, 0), len(xs) - 2)
        return ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i])

    def volume(self, level_m: float) -> float:
        return self._interp(level_m, self.levels, self.volumes)

    def level(self, volume_m3: float) -> float:
        # A reservoir cannot hold less than its lowest surveyed volume: an empty balance stops there.
        return self._interp(max(volume_m3, self.volumes[0]), self.volumes, self.levels)


def forecast_reservoir(
    cfg: ReservoirForecastConfig,
    level_now: float,
    issued: datetime,
    inflow_m3s: Sequence[float],
    release_m3s: Sequence[float],
    horizon_h: int = 24,
) -> Forecast:
    """Levels 1..N hours after ``issued``; ``inflow_m3s[k]`` and ``release_m3s[k]`` are the mean flows (m³/s)
    over hour k+1 (from ``issued + k h`` to ``issued + (k+1) h``).

    N is ``horizon_h`` or fewer when the inflow or release sequence is shorter: the balance does not invent flows
    nobody forecast or planned. ValueError when either is empty or holds a negative or non-finite value, or when
    the current level is not finite.
    """
    rid = cfg.reservoir_id
    if not math.isfinite(level_now):
        raise ValueError(f"reservoir {rid}: current level must be finite, not {level_now}")
    for name, flows in (("inflow", inflow_m3s), ("release", release_m3s)):
        if not flows:
            raise ValueError(f"reservoir {rid}: no {name} given")
        bad = [q for q in flows if not (math.isfinite(q) and q >= 0)]
        if bad:
            raise ValueError(f"reservoir {rid}: {name} must be finite and >= 0, got {bad[0]}")
    n = min(horizon_h, len(inflow_m3s), len(release_m3s))
    curve = StorageCurve(cfg.storage_curve)
    v0 = curve.volume(level_now)
    factors = (1.0, 1.0 - Z80 * cfg.inflow_uncertainty, 1.0 + Z80 * cfg.inflow_uncertainty)
    volumes = [v0, v0, v0]
    points = []
    for k in range(n):
        for j, f in enumerate(factors):
            volumes[j] += (max(0.0, f) * inflow_m3s[k] - release_m3s[k]) * 3600.0
        mid, low, high = (curve.level(v) for v in volumes)
        points.append(ForecastPoint(issued + (k + 1) * HOUR, k + 1, mid, low, high))
    return Forecast(rid, issued, "model", "mass_balance", tuple(points))
