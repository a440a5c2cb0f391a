"""Cost per reading of the quality checker (hub/quality/checker.py): ``python -m bench.quality``.

Two workloads, each timed best of ``--repeat`` on a fresh ``QualityChecker`` per round, readings built beforehand:

- good: 50 water_level sensors at 300 s, 50,000 readings of a slow sine (every reading good), through ``check``
  with aware datetimes and through ``check_epoch`` with epoch seconds;
- fault mix: every series of tests/hub/quality/test_fault_mix.py (seed 1: spikes, stuck windows, dropouts, drift),
  the same readings the test judges, through ``check``.

Prints µs per reading, then one JSON line of the figures. Documented in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hub.quality.checker import QualityChecker

T0 = datetime(2025, 10, 1, 17, 0, tzinfo=UTC)
SENSORS = 50
INTERVAL_S = 300.0
READINGS = 50_000

Reading = tuple[str, str, str, datetime, float]


def good_readings() -> list[Reading]:
    """Round-robin over the sensors: each one a slow sine around 5 m, 1 cm amplitude per hour or so."""
    out = []
    for i in range(READINGS):
        k, n = divmod(i, SENSORS)
        t = k * INTERVAL_S
        value = 5.0 + 0.5 * math.sin(2 * math.pi * t / 86400 + n)
        out.append((f"node-{n:02d}", "s", "water_level", T0 + timedelta(seconds=t), value))
    return out


def fault_mix_readings() -> tuple[list[Reading], dict[tuple[str, str], float]]:
    """The fault-mix test's series (seed 1), one node per series, in time order per node."""
    from simulators.sensors.faults import FaultInjector
    from simulators.sensors.models import create_model
    from tests.hub.quality.test_fault_mix import DAYS, SERIES, _faults, _windows

    out: list[Reading] = []
    intervals = {}
    for j, series in enumerate(SERIES):
        node = f"node-{j}"
        intervals[(node, "s")] = series.interval_s
        model = create_model(series.model, series.params, 1)
        injector = FaultInjector(_faults(series, _windows(series, 1)), 1)
        t_prev = None
        for k in range(int(DAYS * 86400 / series.interval_s)):
            t = k * series.interval_s
            clean = model.sample(t_prev, t)
            t_prev = t
            value = injector.apply(t, clean).value
            if value is not None:
                out.append((node, "s", series.quantity, T0 + timedelta(seconds=t), value))
    return out, intervals


def _best_us(run: Callable[[], None], n: int, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def bench_check(readings: list[Reading], intervals: dict[tuple[str, str], float], repeat: int) -> float:
    def run() -> None:
        check = QualityChecker(intervals=intervals).check
        for node, sensor, quantity, ts, value in readings:
            check(node, sensor, quantity, ts, value)

    return _best_us(run, len(readings), repeat)


def bench_check_epoch(readings: list[Reading], intervals: dict[tuple[str, str], float], repeat: int) -> float | None:
    if not hasattr(QualityChecker, "check_epoch"):
        return None
    epoch = [(node, sensor, quantity, ts.timestamp(), value) for node, sensor, quantity, ts, value in readings]

    def run() -> None:
        check = QualityChecker(intervals=intervals).check_epoch  # type: ignore[attr-defined,unused-ignore]
        for node, sensor, quantity, ts_s, value in epoch:
            check(node, sensor, quantity, ts_s, value)

    return _best_us(run, len(epoch), repeat)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="rounds per workload; the best counts")
    args = parser.parse_args(argv)
    good = good_readings()
    good_intervals = {(f"node-{n:02d}", "s"): INTERVAL_S for n in range(SENSORS)}
    mix, mix_intervals = fault_mix_readings()
    figures = {
        "good_check_us": bench_check(good, good_intervals, args.repeat),
        "good_check_epoch_us": bench_check_epoch(good, good_intervals, args.repeat),
        "fault_mix_check_us": bench_check(mix, mix_intervals, args.repeat),
        "fault_mix_check_epoch_us": bench_check_epoch(mix, mix_intervals, args.repeat),
        "good_readings": len(good),
        "fault_mix_readings": len(mix),
    }
    for name, label in [
        ("good_check_us", "good readings, check (datetime)"),
        ("good_check_epoch_us", "good readings, check_epoch (epoch s)"),
        ("fault_mix_check_us", "fault mix, check (datetime)"),
        ("fault_mix_check_epoch_us", "fault mix, check_epoch (epoch s)"),
    ]:
        value = figures[name]
        print(f"{label:40s} {'-' if value is None else f'{value:.2f} µs per reading'}")
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
