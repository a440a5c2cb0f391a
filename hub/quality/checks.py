"""The checks, one plain function each: the settings and the readings they need in, a ``Finding`` or None out.

None means the check passed or is switched off. The per-sensor state (which reading is a neighbour, how long a
value has stood still) is the checker's business (checker.py); these only judge what they are given.
"""

from __future__ import annotations

import math
from datetime import datetime

from hub.quality.config import FlatLine, GapCheck, HardLimits, Intensity, RateOfChange, SoftLimits, Spike
from hub.quality.flags import CheckName, Finding, Flag, Gap


def _outside(value: float, low: float | None, high: float | None) -> str | None:
    if low is not None and value < low:
        return f"{value:g} is below {low:g}"
    if high is not None and value > high:
        return f"{value:g} is above {high:g}"
    return None


def not_finite(value: float) -> Finding | None:
    """NaN or infinity is never a measurement (the wire contract refuses them; this is the last guard)."""
    if math.isfinite(value):
        return None
    return Finding(Flag.BAD, CheckName.HARD_LIMIT, f"{value} is not a number")


def hard_limit(value: float, cfg: HardLimits | None) -> Finding | None:
    if cfg is None or not cfg.enabled:
        return None
    why = _outside(value, cfg.min, cfg.max)
    return None if why is None else Finding(cfg.flag, CheckName.HARD_LIMIT, f"{why} (hard limit)")


def soft_limit(value: float, cfg: SoftLimits | None) -> Finding | None:
    if cfg is None or not cfg.enabled:
        return None
    why = _outside(value, cfg.min, cfg.max)
    return None if why is None else Finding(cfg.flag, CheckName.SOFT_LIMIT, f"{why} (soft limit)")


def intensity(value: float, span_s: float, cfg: Intensity | None) -> Finding | None:
    """An increment (rain since the previous reading) over ``span_s`` seconds, as depth per hour."""
    if cfg is None or not cfg.enabled:
        return None
    per_h = value / (max(span_s, cfg.min_span_s) / 3600.0)
    if per_h <= cfg.max_per_h:
        return None
    return Finding(
        cfg.flag, CheckName.INTENSITY, f"{value:g} in {span_s:g} s is {per_h:.4g}/h, over {cfg.max_per_h:g}/h"
    )


def rate_of_change(
    ref_ts: datetime, ref_value: float, ts: datetime, value: float, cfg: RateOfChange | None
) -> Finding | None:
    """``value`` against the reference reading: the change allowed grows with the time between them."""
    if cfg is None or not cfg.enabled:
        return None
    hours = (ts - ref_ts).total_seconds() / 3600.0
    if hours <= 0:
        return None  # the checker never asks about the same instant or a later reference
    change = value - ref_value
    limit = cfg.max_rise_per_h if change > 0 else cfg.max_fall_per_h
    if limit is None or abs(change) <= limit * hours + cfg.allowance:
        return None
    verb = "rose" if change > 0 else "fell"
    return Finding(
        cfg.flag,
        CheckName.RATE_OF_CHANGE,
        f"{verb} {abs(change):g} in {hours * 60:.4g} min ({abs(change) / hours:.4g}/h, limit {limit:g}/h)",
    )


def spike(before: float, value: float, after: float, cfg: Spike | None) -> Finding | None:
    """``value`` sticks out from both neighbours, in the same direction, by more than the threshold."""
    if cfg is None or not cfg.enabled:
        return None
    up, down = value - before, value - after
    if up * down <= 0 or min(abs(up), abs(down)) <= cfg.threshold:
        return None
    return Finding(
        cfg.flag,
        CheckName.SPIKE,
        f"{value:g} is {min(abs(up), abs(down)):g} out of line with both neighbours ({before:g}, {after:g}), "
        f"threshold {cfg.threshold:g}",
    )


def flat_line(value: float, since: datetime, readings: int, ts: datetime, cfg: FlatLine | None) -> Finding | None:
    """``readings`` readings in a row, from ``since`` to ``ts``, all within the tolerance of ``value``."""
    if cfg is None or not cfg.enabled:
        return None
    if any(abs(value - normal) <= cfg.tolerance for normal in cfg.normal_values):
        return None
    held_s = (ts - since).total_seconds()
    if readings < cfg.min_readings or held_s < cfg.duration_s:
        return None
    return Finding(
        cfg.flag, CheckName.FLAT_LINE, f"{value:g} unchanged for {readings} readings since {since.isoformat()}"
    )


def gap(after: datetime, before: datetime, interval_s: float | None, cfg: GapCheck | None) -> Gap | None:
    """A silence between two consecutive readings longer than ``factor`` intervals; None without an interval."""
    if cfg is None or not cfg.enabled or interval_s is None or interval_s <= 0:
        return None
    span = (before - after).total_seconds()
    if span <= interval_s * cfg.factor:
        return None
    return Gap(after, before, interval_s, missing=max(0, round(span / interval_s) - 1))
