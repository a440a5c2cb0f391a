"""Cost per reading of the quality checker (hub/quality/checker.py): ``python -m bench.quality``.

Two workloads, each timed best of ``--repeat`` on a fresh ``QualityChecker`` per round, readings built beforehand:

- good: 50 water_level sensors at 300 s, 50,000 readings of a slow sine (every reading good), through ``check``
  with aware datetimes and through ``check_epoch`` with epoch seconds;
- fault mix: every series of tests/hub/quality/test_fault_mix.py (seed 1: spikes, stuck windows, dropouts, drift),
  the same readings the test judges, through ``check``;
- ingest: the hub's whole processing of a telemetry message (``hub.ingest.processor.Processor.handle``: parse,
  validate, dedupe, line protocol) of 5 river-level readings, 20,000 messages from 50 nodes, without and with
  quality control: the share QC adds to the ingest path's CPU per message.

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
    from tests.hub.quality.test_fault_mix import SERIES, labelled_readings

    out: list[Reading] = []
    intervals = {}
    for j, series in enumerate(SERIES):
        node = f"node-{j}"
        intervals[(node, "s")] = series.interval_s
        for t, value, _label, _episode in labelled_readings(series, 1):
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


def telemetry_messages(n: int = 20_000, per_message: int = 5) -> tuple[list[tuple[str, bytes]], dict, float]:
    """(topic, payload) per message, the registry, and the data time of the last message (the processor's clock)."""
    from hub.store.state import NodeInfo

    sensors = tuple((f"s{j}", "water_level", INTERVAL_S) for j in range(per_message))
    nodes = {f"node-{n:02d}": NodeInfo(f"node-{n:02d}", admin_code="01", sensors=sensors) for n in range(SENSORS)}
    out, ts = [], T0
    for i in range(n):
        k, node = divmod(i, SENSORS)
        ts = T0 + timedelta(seconds=k * INTERVAL_S)
        readings = [
            {"sensor_id": sid, "quantity": "water_level", "unit": "m",
             "value": round(5.0 + 0.5 * math.sin(2 * math.pi * k * INTERVAL_S / 86400 + node + j), 4)}
            for j, (sid, _q, _i) in enumerate(sensors)
        ]  # fmt: skip
        body = {"v": 1, "node_id": f"node-{node:02d}", "seq": k + 1, "ts": ts.isoformat(), "readings": readings}
        out.append((f"iocgw/v1/node-{node:02d}/telemetry", json.dumps(body).encode()))
    return out, nodes, ts.timestamp()


def bench_processor(messages: list[tuple[str, bytes]], nodes: dict, now: float, quality: bool, repeat: int) -> float:
    """µs per message through ``Processor.handle``, with or without the hub's quality control."""
    from hub.ingest.processor import Batch, Processor
    from hub.quality.checker import intervals_from_nodes
    from wire import Topics

    def run() -> None:
        checker = QualityChecker(intervals=intervals_from_nodes(nodes.values())) if quality else None
        p = Processor(Topics("iocgw"), nodes, clock=lambda: now, quality=checker)
        batch = Batch()
        for i, (topic, payload) in enumerate(messages):
            if i % 1000 == 0:
                batch = Batch()
            p.handle(topic, payload, batch)

    return _best_us(run, len(messages), repeat)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="rounds per workload; the best counts")
    args = parser.parse_args(argv)
    good = good_readings()
    good_intervals = {(f"node-{n:02d}", "s"): INTERVAL_S for n in range(SENSORS)}
    mix, mix_intervals = fault_mix_readings()
    messages, nodes, now = telemetry_messages()
    without_qc = bench_processor(messages, nodes, now, False, args.repeat)
    with_qc = bench_processor(messages, nodes, now, True, args.repeat)
    figures = {
        "good_check_us": bench_check(good, good_intervals, args.repeat),
        "good_check_epoch_us": bench_check_epoch(good, good_intervals, args.repeat),
        "fault_mix_check_us": bench_check(mix, mix_intervals, args.repeat),
        "fault_mix_check_epoch_us": bench_check_epoch(mix, mix_intervals, args.repeat),
        "ingest_message_us": without_qc,
        "ingest_message_qc_us": with_qc,
        "ingest_qc_overhead_pct": 100 * (with_qc / without_qc - 1),
        "good_readings": len(good),
        "fault_mix_readings": len(mix),
    }
    for name, label in [
        ("good_check_us", "good readings, check (datetime)"),
        ("good_check_epoch_us", "good readings, check_epoch (epoch s)"),
        ("fault_mix_check_us", "fault mix, check (datetime)"),
        ("fault_mix_check_epoch_us", "fault mix, check_epoch (epoch s)"),
        ("ingest_message_us", "ingest, 5-reading message, no QC (per msg)"),
        ("ingest_message_qc_us", "ingest, 5-reading message, QC (per msg)"),
    ]:
        value = figures[name]
        print(f"{label:44s} {'-' if value is None else f'{value:.2f} µs'}")
    print(f"{'QC share of the ingest path':44s} {figures['ingest_qc_overhead_pct']:+.1f} %")
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
