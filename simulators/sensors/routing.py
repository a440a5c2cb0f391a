"""Hourly hydrographs for forecast benchmarks: seasons of seeded storms, and a reach that routes an upstream
station's flow down to a downstream one with a travel time; and the hourly rain a gauge reports of those storms.

Builds on the same physics as the live ``river_stage`` model (hydrology.py: rain bursts through a Nash cascade,
stage from a power-law rating) but produces whole hourly series at once, weeks long, with storms that differ by
seed: a forecast has to be fitted on some floods and tested on others it has not seen.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from simulators.sensors.hydrology import Hyetograph, Routing
from wire.nodeconfig.simulated import Burst


def seeded_storms(
    template: Sequence[Burst],
    seed: int,
    days: float,
    *,
    first_h: float = 48.0,
    min_gap_h: float = 72.0,
    mean_extra_gap_h: float = 72.0,
    scale_median: float = 0.8,
    scale_sd: float = 0.45,
) -> list[tuple[float, list[Burst]]]:
    """A season of storms, each the ``template`` storm moved and rescaled: (scale, bursts) per storm.

    Storms start ``first_h`` after the season's start, then every ``min_gap_h`` plus an exponential wait. Each is
    scaled by a log-normal factor (median ``scale_median``, log-sd ``scale_sd``), so some stay in the channel and
    some top the highest alarm level; the template's bursts keep their spacing but each is stretched by ±20 %.
    """
    rng = random.Random(seed)
    out = []
    t0_h = first_h
    end_h = days * 24.0
    origin = min(b.start_s for b in template)
    while t0_h < end_h:
        scale = scale_median * math.exp(rng.gauss(0.0, scale_sd))
        bursts = []
        for b in template:
            stretch = rng.uniform(0.8, 1.2)
            bursts.append(
                Burst(
                    start_s=t0_h * 3600.0 + (b.start_s - origin) * stretch,
                    duration_s=b.duration_s * stretch,
                    total_mm=b.total_mm * scale * rng.uniform(0.8, 1.2),
                )
            )
        out.append((scale, bursts))
        t0_h += min_gap_h + rng.expovariate(1.0 / mean_extra_gap_h)
    return out


def hourly_runoff(routing: Routing, bursts: Sequence[Burst], hours: int) -> list[float]:
    """The basin's outflow (mm/h of rain depth) at each whole hour 0..hours-1."""
    rain = Hyetograph.from_bursts(bursts)
    return [routing.runoff_rate(rain, h * 3600.0) * 3600.0 for h in range(hours)]


def gauge_rain(
    storms: Sequence[tuple[float, Sequence[Burst]]],
    hours: int,
    seed: int,
    *,
    jitter: float = 0.0,
    shift_s: float = 0.0,
    resolution_mm: float = 0.2,
) -> list[float]:
    """The rain (mm) one gauge reports for each hour ending at whole hour 0..hours-1, of the storms that drive the
    basin (``seeded_storms``' output).

    As the live ``rain_gauge`` model does for one storm: each storm reaches this gauge scaled by 1 ± ``jitter``
    and moved by ± ``shift_s`` (drawn anew per storm: a gauge is not wetter than its basin in every storm), and
    the gauge counts whole tips of ``resolution_mm``. The basin's own rain, which the runoff is computed from, is
    the storms' hyetograph itself: a gauge is a noisy sample of it, not the truth.
    """
    rng = random.Random(seed)
    hyetographs = []
    for _, bursts in storms:
        scale = 1.0 + jitter * (2.0 * rng.random() - 1.0)
        shift = shift_s * (2.0 * rng.random() - 1.0)
        hyetographs.append(Hyetograph.from_bursts(bursts, scale=scale, shift_s=shift))

    def depth(t_s: float) -> float:
        d = sum(hy.depth(t_s) for hy in hyetographs)
        # The epsilon keeps a depth of exactly k tips from reading as k - 1 after float rounding.
        return math.floor(d / resolution_mm + 1e-9) * resolution_mm if resolution_mm > 0 else d

    totals = [depth(h * 3600.0) for h in range(hours)]
    return [round(max(0.0, b - a), 9) for a, b in zip([totals[0], *totals[:-1]], totals, strict=True)]


def route_reach(inflow: Sequence[float], travel_h: float, attenuation_h: float) -> list[float]:
    """Flow at the lower end of a reach: the inflow delayed by ``travel_h`` (linear between hours), then through
    one linear reservoir with time constant ``attenuation_h``, which flattens and slightly delays the peak.

    Before the first delayed value arrives the reach carries the inflow's first value (a steady river).
    """
    n = len(inflow)
    delayed = []
    for t in range(n):
        x = t - travel_h
        if x <= 0:
            delayed.append(inflow[0])
            continue
        i = math.floor(x)
        frac = x - i
        nxt = inflow[min(i + 1, n - 1)]
        delayed.append(inflow[i] * (1 - frac) + nxt * frac)
    if attenuation_h <= 0:
        return delayed
    keep = math.exp(-1.0 / attenuation_h)
    out, state = [], delayed[0]
    for q in delayed:
        state = keep * state + (1 - keep) * q
        out.append(state)
    return out


def stage_from_flow(flow: Sequence[float], base_m: float, gain_m: float, exponent: float) -> list[float]:
    """Stage through the ``river_stage`` model's rating: base + gain * flow^(1/exponent)."""
    return [base_m + gain_m * max(q, 0.0) ** (1.0 / exponent) for q in flow]


def gain_for_peak(peak_flow: float, base_m: float, peak_m: float, exponent: float) -> float:
    """The rating gain that puts ``peak_flow`` at ``peak_m``."""
    if peak_flow <= 0:
        raise ValueError("the calibration storm makes no flow")
    return (peak_m - base_m) / peak_flow ** (1.0 / exponent)


def with_noise(stage: Sequence[float], seed: int, noise_sd_m: float = 0.005, missing_share: float = 0.0) -> list[float]:
    """The stage as a gauge's hourly means report it: small noise, and some hours missing (NaN)."""
    rng = random.Random(seed)
    out = []
    for v in stage:
        gone = missing_share > 0 and rng.random() < missing_share
        out.append(math.nan if gone else v + rng.gauss(0.0, noise_sd_m))
    return out
