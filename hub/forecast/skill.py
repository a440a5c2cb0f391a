"""How good forecasts were: Nash-Sutcliffe efficiency, RMSE, skill over persistence, and threshold warnings.

Pure functions over plain lists, so the benchmark and the tests score any method the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


def _pairs(forecast: Sequence[float], observed: Sequence[float]) -> list[tuple[float, float]]:
    if len(forecast) != len(observed):
        raise ValueError(f"{len(forecast)} forecasts for {len(observed)} observations")
    return [(f, o) for f, o in zip(forecast, observed, strict=True) if not (math.isnan(f) or math.isnan(o))]


def nse(forecast: Sequence[float], observed: Sequence[float]) -> float:
    """Nash-Sutcliffe efficiency: 1 - sum (f - o)² / sum (o - mean o)². 1 is perfect, 0 is as good as the mean.

    NaN pairs are skipped; NaN when fewer than two pairs or the observations never vary.
    """
    pairs = _pairs(forecast, observed)
    if len(pairs) < 2:
        return math.nan
    mean = sum(o for _, o in pairs) / len(pairs)
    var = sum((o - mean) ** 2 for _, o in pairs)
    if var == 0:
        return math.nan
    return 1.0 - sum((f - o) ** 2 for f, o in pairs) / var


def rmse(forecast: Sequence[float], observed: Sequence[float]) -> float:
    """Root mean square error over the pairs with both values; NaN for none."""
    pairs = _pairs(forecast, observed)
    if not pairs:
        return math.nan
    return math.sqrt(sum((f - o) ** 2 for f, o in pairs) / len(pairs))


def skill(forecast: Sequence[float], reference: Sequence[float], observed: Sequence[float]) -> float:
    """1 - MSE(forecast) / MSE(reference) over the hours all three have; > 0 means better than the reference.

    With persistence as the reference this equals the difference of the two NSEs divided by (1 - NSE of
    persistence), hence "NSE skill". NaN when the reference is perfect or there are no common hours.
    """
    triples = [
        (f, r, o)
        for f, r, o in zip(forecast, reference, observed, strict=True)
        if not (math.isnan(f) or math.isnan(r) or math.isnan(o))
    ]
    ref = sum((r - o) ** 2 for _, r, o in triples)
    if not triples or ref == 0:
        return math.nan
    return 1.0 - sum((f - o) ** 2 for f, _, o in triples) / ref


@dataclass(frozen=True)
class IssuedWarning:
    """A forecast issued at ``issued`` said threshold ``key`` would be reached at ``expected``."""

    key: str
    issued: datetime
    expected: datetime


@dataclass(frozen=True)
class ObservedCrossing:
    """The observed level reached threshold ``key`` at ``at`` (from below)."""

    key: str
    at: datetime


@dataclass(frozen=True)
class WarningScore:
    crossings: int  # observed crossings
    hits: int  # crossings warned at least min_lead before they happened
    warnings: int
    false_warnings: int  # warnings with no crossing (or the level already above) within horizon + tolerance
    lead_times_h: tuple[float, ...]  # per hit: from the first warning to the crossing

    @property
    def hit_rate(self) -> float:
        return self.hits / self.crossings if self.crossings else math.nan

    @property
    def false_warning_rate(self) -> float:
        return self.false_warnings / self.warnings if self.warnings else math.nan

    @property
    def median_lead_h(self) -> float:
        s = sorted(self.lead_times_h)
        if not s:
            return math.nan
        mid = len(s) // 2
        return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def score_warnings(
    warnings: Sequence[IssuedWarning],
    observed: Sequence[ObservedCrossing],
    reached: Sequence[tuple[str, datetime, datetime]] = (),
    *,
    min_lead: timedelta = timedelta(hours=6),
    horizon: timedelta = timedelta(hours=24),
    tolerance: timedelta = timedelta(hours=3),
    verifiable_until: datetime | None = None,
) -> WarningScore:
    """Match warnings to observed crossings.

    A crossing is a hit when some warning for its threshold was issued between ``horizon`` and ``min_lead``
    before it; its lead time runs from the earliest such warning. A warning is false when no observed crossing of
    its threshold falls between its issue time and ``horizon + tolerance`` later, and the level was not at or above
    the threshold then either (``reached`` lists, per threshold, the spans (key, from, to) when it was).
    Warnings whose window ends after ``verifiable_until`` (the end of the observations) are not judged as true
    or false, and not counted in ``warnings``; they still count for hits.
    """
    hits, leads = 0, []
    for c in observed:
        issued = [w.issued for w in warnings if w.key == c.key and c.at - horizon <= w.issued <= c.at - min_lead]
        if issued:
            hits += 1
            leads.append((c.at - min(issued)).total_seconds() / 3600.0)
    false = 0
    judged = [w for w in warnings if verifiable_until is None or w.issued + horizon + tolerance <= verifiable_until]
    for w in judged:
        end = w.issued + horizon + tolerance
        happened = any(c.key == w.key and w.issued <= c.at <= end for c in observed) or any(
            k == w.key and a <= end and b >= w.issued for k, a, b in reached
        )
        if not happened:
            false += 1
    return WarningScore(len(observed), hits, len(judged), false, tuple(leads))


def observed_crossings(
    times: Sequence[datetime], levels: Sequence[float], thresholds: Sequence[tuple[str, float]]
) -> tuple[list[ObservedCrossing], list[tuple[str, datetime, datetime]]]:
    """Upward crossings in an observed series (interpolated within the hour), and the spans spent at or above each
    threshold. Missing hours (NaN) break a span but never make a crossing."""
    crossings, spans = [], []
    for key, thr in thresholds:
        above_since: datetime | None = None
        prev_t, prev_v = None, math.nan
        for t, v in zip(times, levels, strict=True):
            if math.isnan(v):
                if above_since is not None and prev_t is not None:
                    spans.append((key, above_since, prev_t))
                above_since, prev_t, prev_v = None, None, math.nan
                continue
            if v >= thr:
                if above_since is None:
                    above_since = t
                if prev_t is not None and not math.isnan(prev_v) and prev_v < thr:
                    crossings.append(ObservedCrossing(key, prev_t + (thr - prev_v) / (v - prev_v) * (t - prev_t)))
            elif above_since is not None and prev_t is not None:
                spans.append((key, above_since, prev_t))
                above_since = None
            prev_t, prev_v = t, v
        if above_since is not None and prev_t is not None:
            spans.append((key, above_since, prev_t))
    return crossings, spans
