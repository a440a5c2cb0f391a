"""Rain bursts and their routing through a basin: the shared physics of gauges, rivers and reservoirs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from wire.nodeconfig.simulated import Burst

# Each burst is published as a stepped hyetograph of this many equal blocks. A step function integrates exactly
# (gauge increments over any split add up) and its convolution with the unit hydrograph has a closed form.
BLOCKS_PER_BURST = 6
_RAW = [math.sin(math.pi * (j + 0.5) / BLOCKS_PER_BURST) for j in range(BLOCKS_PER_BURST)]
# Bell-shaped weights: storms build, peak near the middle and ease off, as typhoon rain bands do.
BLOCK_WEIGHTS = tuple(w / sum(_RAW) for w in _RAW)


@dataclass(frozen=True)
class Hyetograph:
    """Rain intensity as a step function: blocks of (start s, end s, rate mm/s)."""

    blocks: tuple[tuple[float, float, float], ...]

    @classmethod
    def from_bursts(cls, bursts: Sequence[Burst], *, scale: float = 1.0, shift_s: float = 0.0) -> Hyetograph:
        """``scale`` and ``shift_s`` let gauges of one storm differ, as real gauges a few km apart do."""
        blocks = []
        for b in bursts:
            start = max(0.0, b.start_s + shift_s)
            width = b.duration_s / BLOCKS_PER_BURST
            for j, w in enumerate(BLOCK_WEIGHTS):
                t0 = start + j * width
                blocks.append((t0, t0 + width, b.total_mm * scale * w / width))
        return cls(tuple(sorted(blocks)))

    def depth(self, t_s: float) -> float:
        """Depth (mm) fallen between scenario time 0 and ``t_s``."""
        total = 0.0
        for t0, t1, rate in self.blocks:
            if t_s <= t0:
                continue
            total += rate * (min(t_s, t1) - t0)
        return total

    @property
    def total(self) -> float:
        return sum(rate * (t1 - t0) for t0, t1, rate in self.blocks)

    @property
    def end_s(self) -> float:
        return max((t1 for _, t1, _ in self.blocks), default=0.0)


def nash_cdf(x_s: float, reservoirs: int, k_s: float) -> float:
    """Share of a pulse of runoff that has left a cascade of ``reservoirs`` linear reservoirs after ``x_s``.

    This is the gamma distribution's CDF with integer shape: 1 - exp(-x/k) * sum_{j<n} (x/k)^j / j!.
    """
    if x_s <= 0:
        return 0.0
    x = x_s / k_s
    term, acc = 1.0, 1.0
    for j in range(1, reservoirs):
        term *= x / j
        acc += term
    return max(0.0, 1.0 - math.exp(-x) * acc)


@dataclass(frozen=True)
class Routing:
    """Basin response: a pure travel delay, then a Nash cascade of linear reservoirs (Nash, 1957).

    The unit hydrograph peaks ``lag_s + (reservoirs - 1) * recession_s`` after the rain and falls off with time
    constant ``recession_s``: the classic shape of a flood wave, with the lag growing with basin size.
    """

    lag_s: float
    recession_s: float
    reservoirs: int

    def runoff_rate(self, rain: Hyetograph, t_s: float) -> float:
        """Outflow of the basin at ``t_s`` in mm/s of rain depth: the rain convolved with the unit hydrograph.

        A block of rate r over [t0, t1] contributes r * (F(t - lag - t0) - F(t - lag - t1)) with F the cascade's
        CDF, so no numerical integration is needed and the volume that comes out equals the rain that went in.
        """
        x = t_s - self.lag_s
        q = 0.0
        for t0, t1, rate in rain.blocks:
            if x <= t0:
                break  # blocks are sorted by start: the rest has not reached the outlet yet
            q += rate * (
                nash_cdf(x - t0, self.reservoirs, self.recession_s)
                - nash_cdf(x - t1, self.reservoirs, self.recession_s)
            )
        return q

    @property
    def time_to_peak_s(self) -> float:
        return self.lag_s + (self.reservoirs - 1) * self.recession_s

    def settle_s(self, rain: Hyetograph) -> float:
        """A time by which the response has long passed its peak (used to bound searches)."""
        return rain.end_s + self.lag_s + (self.reservoirs + 8) * self.recession_s
