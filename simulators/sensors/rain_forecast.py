"""Simulated rain forecasts (QPF) of a season of seeded storms, as a weather service would issue them.

A forecast that knew the storms exactly would make any warning look good, so these are wrong in the ways real ones
are: every storm's depth is off by a log-normal factor, part of it kept for the storm's whole life (a run of models
that all under- or over-play it) and part drawn anew at each issue; its timing is off by hours, less as it nears; some
storms are missed until a few hours before they arrive, and some storms are forecast that never come (they vanish
from the issues shortly before they were due). The parameters are illustrative, not calibrated on any agency's
verification statistics, and set before any warning was scored on them; docs/forecast.md lists them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from simulators.sensors.hydrology import Hyetograph
from wire.nodeconfig.simulated import Burst


@dataclass(frozen=True)
class QpfErrors:
    every_h: int = 6  # a new issue every 6 hours, as global weather models run
    reach_h: int = 48  # hours each issue covers
    storm_log_sd: float = 0.35  # the part of a storm's depth error that every issue shares
    issue_log_sd_far: float = 0.3  # the part drawn anew per issue, more than a day before the storm
    issue_log_sd_near: float = 0.15  # ... within a day of it, or during it
    timing_sd_h: float = 3.0  # timing error more than 6 h before the storm; half of it after
    miss_share: float = 0.15  # storms first forecast only ``seen_h`` before they start
    phantom_share: float = 0.3  # storms forecast that never come, per real storm
    seen_h: float = 6.0


def _start_h(bursts: Sequence[Burst]) -> float:
    return min(b.start_s for b in bursts) / 3600.0


def qpf_issues(
    storms: Sequence[tuple[float, Sequence[Burst]]],
    hours: int,
    seed: int,
    errors: QpfErrors | None = None,
) -> list[tuple[int, list[float]]]:
    """Issues over ``hours`` of ``storms`` (``routing.seeded_storms``' output): (issue hour, mm per hour for the
    hours ending at issue + 1 .. issue + reach_h)."""
    e = errors or QpfErrors()
    rng = random.Random(seed)
    # (bursts, shared log error, first hour it may be forecast, last hour it may be forecast)
    tracked: list[tuple[Sequence[Burst], float, float, float]] = []
    for _, bursts in storms:
        s = _start_h(bursts)
        first = s - e.seen_h if rng.random() < e.miss_share else -1e9
        tracked.append((bursts, rng.gauss(0.0, e.storm_log_sd), first, 1e9))
    n_phantoms = sum(1 for _ in storms if rng.random() < e.phantom_share)
    for _ in range(n_phantoms):
        _, template = storms[rng.randrange(len(storms))]
        offset_s = rng.uniform(0.0, hours * 3600.0) - min(b.start_s for b in template)
        moved = [Burst(start_s=max(0.0, b.start_s + offset_s), duration_s=b.duration_s, total_mm=b.total_mm)
                 for b in template]  # fmt: skip
        s = _start_h(moved)
        tracked.append((moved, rng.gauss(0.0, e.storm_log_sd), -1e9, s - e.seen_h))
    out = []
    for issue_h in range(0, hours, e.every_h):
        hyetographs = []
        for bursts, shared, first, last in tracked:
            if not first <= issue_h <= last:
                continue
            lead = _start_h(bursts) - issue_h
            if lead > e.reach_h:
                continue
            sd = e.issue_log_sd_far if lead > 24 else e.issue_log_sd_near
            scale = math.exp(shared + rng.gauss(0.0, sd))
            shift = rng.gauss(0.0, e.timing_sd_h if lead > 6 else e.timing_sd_h / 2) * 3600.0
            hyetographs.append(Hyetograph.from_bursts(bursts, scale=scale, shift_s=shift))
        depths = [sum(hy.depth((issue_h + k) * 3600.0) for hy in hyetographs) for k in range(e.reach_h + 1)]
        out.append((issue_h, [max(0.0, b - a) for a, b in pairwise(depths)]))
    return out
