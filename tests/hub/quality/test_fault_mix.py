"""Seeded fault mix: the project's own signal models and fault injector make long series with known faults, and the
checker must flag >= 95 % of the faults a single station's checks can see while flagging <= 1 % of good readings.

Faults: spikes (isolated outliers, both directions, several sizes above each quantity's spike threshold), stuck
(the injector's frozen sensor, in windows longer than the quantity's flat-line duration), dropout (whole windows
lost: a gap event), and drift (a slow linear offset added here; the simulator has none), which single-station
checks cannot see until it leaves the limits: it is measured and reported, not asserted. Rainfall is measured for
false flags only: a spike or a stuck-at-zero rain gauge looks like rain or dry weather to checks on one gauge.

Run ``python -m tests.hub.quality.test_fault_mix`` to print the table quoted in docs/quality.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.quality.checker import QualityChecker
from hub.quality.flags import Flag
from simulators.sensors.faults import FaultInjector
from simulators.sensors.models import create_model
from wire.nodeconfig.simulated import DropoutFault, SpikeFault, StuckFault

T0 = datetime(2025, 10, 1, 17, 0, tzinfo=UTC)  # local midnight
DAYS = 12
HOUR = 3600.0
STORM = [
    {"start_s": 2 * 86400, "duration_s": 64800, "total_mm": 160},
    {"start_s": 4 * 86400, "duration_s": 43200, "total_mm": 110},
    {"start_s": 8 * 86400, "duration_s": 86400, "total_mm": 420},
]


@dataclass(frozen=True)
class Series:
    """One simulated sensor: model, params, interval, spike sizes (unit of the quantity), stuck window length."""

    quantity: str
    model: str
    params: dict[str, Any]
    interval_s: float
    spikes: tuple[float, ...]
    stuck_h: float
    drift_per_day: float


SERIES = [
    Series(
        "water_level",
        "river_stage",
        {"base_m": 7.0, "peak_m": 11.9, "lag_s": 36000, "recession_s": 32400, "bursts": STORM},
        300,
        (0.5, 1.0, 2.5),
        12,
        0.05,
    ),
    Series(
        "water_level",
        "river_stage",
        {"base_m": 0.4, "peak_m": 4.2, "lag_s": 7200, "recession_s": 18000, "bursts": STORM},
        900,
        (0.5, 2.5),
        12,
        0.05,
    ),
    Series("reservoir_level", "reservoir_level", {"bursts": STORM, "initial_level_m": 28.0}, 900, (0.5, 1.0), 54, 0.02),
    Series("temperature", "temperature", {"mean_c": 28.0, "amplitude_c": 5.0}, 300, (5.0, 10.0), 6, 0.3),
    Series("humidity", "humidity", {"mean_c": 28.0, "dewpoint_c": 22.0}, 300, (20.0, 30.0), 12, 2.0),
    Series("pm25", "pm25", {"mean_ugm3": 45.0}, 300, (150.0, 300.0), 6, 3.0),
    Series("rainfall", "rain_gauge", {"bursts": STORM, "resolution_mm": 0.2}, 300, (), 0, 0.0),
]
SEEDS = (1, 2, 3)


@dataclass
class Tally:
    caught: int = 0
    total: int = 0

    def add(self, caught: bool) -> None:
        self.caught += caught
        self.total += 1

    @property
    def share(self) -> float:
        return self.caught / self.total if self.total else 1.0


@dataclass
class Result:
    """Per (quantity, kind): events caught (a stuck window or dropout window counts once) and readings flagged."""

    events: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    readings: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))


def _windows(series: Series, seed: int) -> dict[str, list[tuple[float, float]]]:
    """Fault windows in scenario seconds, placed per seed so they fall on calm and stormy days alike."""
    shift = seed * 7 * HOUR
    stuck = [(d * 86400 + shift, series.stuck_h * HOUR) for d in (1, 5, 9)] if series.stuck_h else []
    dropout = [(d * 86400 + 5 * HOUR + shift, 2 * HOUR) for d in (3, 7, 10)]
    drift = [(6.5 * 86400 + shift, 1.5 * 86400)] if series.drift_per_day else []
    return {"stuck": stuck, "dropout": dropout, "drift": drift}


def _faults(series: Series, windows: dict[str, list[tuple[float, float]]]) -> list[Any]:
    faults: list[Any] = []
    n = len(series.spikes)
    for i, magnitude in enumerate(series.spikes):  # each size over its own share of the run
        span = DAYS * 86400 / n
        faults.append(
            SpikeFault(start_s=i * span, duration_s=span, magnitude=magnitude, probability=0.02, direction="both")
        )
    faults += [StuckFault(start_s=s, duration_s=d) for s, d in windows["stuck"]]
    faults += [DropoutFault(start_s=s, duration_s=d) for s, d in windows["dropout"]]
    return faults


def _in(t: float, windows: list[tuple[float, float]]) -> int | None:
    return next((i for i, (s, d) in enumerate(windows) if s <= t < s + d), None)


def labelled_readings(
    series: Series, seed: int, faulty: bool = True, drift: bool = True
) -> Iterator[tuple[float, float, str, int | None]]:
    """(scenario s, value, label, episode) of one simulated sensor, dropouts left out: label good, spike, stuck
    or drift (episode: the index of its stuck or drift window). ``faulty=False``: the same sensor without faults;
    ``drift=False``: the other faults without the drift."""
    model = create_model(series.model, series.params, seed)
    windows = _windows(series, seed)
    injector = FaultInjector(_faults(series, windows) if faulty else [], seed)
    t_prev: float | None = None
    for k in range(int(DAYS * 86400 / series.interval_s)):
        t = k * series.interval_s
        clean = model.sample(t_prev, t)
        t_prev = t
        out = injector.apply(t, clean)
        if out.value is None:
            continue
        value, label = out.value, ("good", None)
        stuck, drifting = _in(t, windows["stuck"]), _in(t, windows["drift"]) if drift else None
        if faulty and stuck is not None:
            label = ("stuck", stuck)
        elif value != clean:
            label = ("spike", None)
        elif faulty and drifting is not None:
            start = windows["drift"][drifting][0]
            value += series.drift_per_day * (t - start) / 86400
            label = ("drift", drifting)
        yield t, value, label[0], label[1]


def _run_series(series: Series, seed: int, result: Result) -> None:
    windows = _windows(series, seed)
    qc = QualityChecker(intervals={("node", "s"): series.interval_s})
    final: dict[float, Flag] = {}
    labels: dict[float, tuple[str, int | None]] = {}
    gaps: list[tuple[float, float]] = []
    for t, value, kind, episode in labelled_readings(series, seed):
        verdict = qc.check("node", "s", series.quantity, T0 + timedelta(seconds=t), value)
        final[t] = verdict.flag
        labels[t] = (kind, episode)
        for rev in verdict.revised:
            lo, hi = (rev.start - T0).total_seconds(), (rev.end - T0).total_seconds()
            for ts in [ts for ts in final if lo <= ts <= hi]:
                final[ts] = max(final[ts], rev.flag)
        if verdict.gap is not None:
            gaps.append(((verdict.gap.after - T0).total_seconds(), (verdict.gap.before - T0).total_seconds()))
    _tally(series, windows, final, labels, gaps, result)


def _tally(series, windows, final, labels, gaps, result: Result) -> None:
    q = series.quantity
    episodes: dict[tuple[str, int], bool] = {}
    for t, (kind, episode) in labels.items():
        flagged = final[t] > Flag.GOOD
        result.readings[(q, kind)].add(flagged)
        if kind == "spike":
            result.events[(q, "spike")].add(flagged)
        elif episode is not None:
            episodes[(kind, episode)] = episodes.get((kind, episode), False) or flagged
    for (kind, _), caught in episodes.items():
        result.events[(q, kind)].add(caught)
    for start, duration in windows["dropout"]:
        result.events[(q, "dropout")].add(any(a < start and b >= start + duration for a, b in gaps))


def measure() -> Result:
    result = Result()
    for series in SERIES:
        for seed in SEEDS:
            _run_series(series, seed, result)
    return result


ASSERTED = ("spike", "stuck", "dropout")


def _asserted_events(result: Result) -> Tally:
    total = Tally()
    for (q, kind), tally in result.events.items():
        if kind in ASSERTED and q != "rainfall":
            total.caught += tally.caught
            total.total += tally.total
    return total


def _good(result: Result) -> Tally:
    total = Tally()
    for (_q, kind), tally in result.readings.items():
        if kind == "good":
            total.caught += tally.caught
            total.total += tally.total
    return total


def test_fault_mix_meets_the_issue_targets():
    result = measure()
    faults, good = _asserted_events(result), _good(result)
    assert faults.total > 500 and good.total > 30_000
    assert faults.share >= 0.95, table(result)
    assert good.share <= 0.01, table(result)
    for (q, kind), tally in result.events.items():
        if kind in ASSERTED and q != "rainfall":
            assert tally.share >= 0.9, f"{q} {kind}: {tally.caught}/{tally.total}\n{table(result)}"
    for (q, kind), tally in result.readings.items():
        if kind == "good":
            assert tally.share <= 0.02, f"{q} good flagged: {tally.caught}/{tally.total}\n{table(result)}"


def table(result: Result) -> str:
    lines = ["| quantity | fault | events caught | readings flagged |", "|---|---|---|---|"]
    for q, kind in sorted(set(result.events) | set(result.readings)):
        ev, rd = result.events.get((q, kind)), result.readings.get((q, kind))
        ev_s = f"{ev.caught}/{ev.total} ({ev.share:.1%})" if ev else "-"
        rd_s = f"{rd.caught}/{rd.total} ({rd.share:.2%})" if rd else "-"
        lines.append(f"| {q} | {kind} | {ev_s} | {rd_s} |")
    faults, good = _asserted_events(result), _good(result)
    lines.append(
        f"\nfaults caught (spike, stuck, dropout; rainfall excluded): {faults.caught}/{faults.total} "
        f"({faults.share:.2%}); good readings flagged: {good.caught}/{good.total} ({good.share:.3%})"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(measure()))
