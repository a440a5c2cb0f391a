"""Counters and histograms exposed in Prometheus text format on /metrics."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from typing import ClassVar

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.n = 0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self.counts[bisect.bisect_left(self.buckets, value)] += 1
            self.total += value
            self.n += 1

    def quantile(self, q: float) -> float | None:
        """Upper bound of the bucket holding the q-quantile (coarse, for /healthz)."""
        with self._lock:
            if self.n == 0:
                return None
            target = q * self.n
            acc = 0
            for i, c in enumerate(self.counts):
                acc += c
                if acc >= target:
                    return self.buckets[i] if i < len(self.buckets) else float("inf")
        return None

    def render(self, name: str) -> list[str]:
        with self._lock:
            out, acc = [], 0
            for bound, c in zip(self.buckets, self.counts, strict=False):
                acc += c
                out.append(f'{name}_bucket{{le="{bound}"}} {acc}')
            out.append(f'{name}_bucket{{le="+Inf"}} {self.n}')
            out.append(f"{name}_sum {self.total}")
            out.append(f"{name}_count {self.n}")
        return out


class Metrics:
    """Named counters (each incremented from one thread only) and histograms."""

    COUNTERS: ClassVar[dict[str, str]] = {
        "messages_received": "MQTT messages received",
        "readings_received": "Readings in valid telemetry messages",
        "points_written": "Points written to InfluxDB (directly or from the spool)",
        "points_spooled": "Points put in the local spool because InfluxDB was unavailable",
        "dead_letters": "Messages or readings dead-lettered",
        "duplicates": "Messages dropped as already seen (same node and sequence number)",
        "future_timestamps": "Readings and messages refused: stamped more than 5 minutes ahead of the hub clock",
        "stale_timestamps": "Readings and messages refused: stamped before the oldest time the hub accepts",
        "dead_letters_pruned": "Dead letters deleted to stay within dead_letters.max_age_days and max_mb",
        "points_rejected": "Lines InfluxDB refused, each dead-lettered on its own (the rest of its batch stored)",
        "readings_repeated": "Readings equal to one already stored (same sensor, time and value): not written again",
        "reading_time_conflicts": "Readings refused: another value for a sensor and time already stored",
        "readings_late_unchecked": "Readings older than the times the hub remembers per sensor: stored unchecked",
        "readings_refused": "Readings dead-lettered out of otherwise good messages (unknown sensor, bad time)",
        "influx_errors": "Failed InfluxDB write attempts",
        "batches_flushed": "Batches made durable and acknowledged",
        "acks_sent": "End-to-end ack messages published to nodes",
        "alert_errors": "Batches the alert engine failed on (logged with the cause)",
        "readings_flagged": "Readings the hub's quality control flagged suspect or bad (per check: readings_qc)",
        "readings_revised": "Earlier readings re-flagged once a later one showed a spike or a flat line",
    }

    def __init__(self) -> None:
        self.counters = dict.fromkeys(self.COUNTERS, 0)
        self.write_latency = Histogram()
        self.ingest_delay = Histogram((0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600))
        self.gauges: dict[str, Callable[[], float]] = {}
        self.extra: list[Callable[[], list[str]]] = []  # other parts' metric lines (e.g. the notifier)

    def inc(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def render(self) -> str:
        lines: list[str] = []
        for name, help_text in self.COUNTERS.items():
            lines += [f"# HELP iocgw_hub_{name}_total {help_text}", f"# TYPE iocgw_hub_{name}_total counter"]
            lines.append(f"iocgw_hub_{name}_total {self.counters[name]}")
        for name, fn in self.gauges.items():
            lines += [f"# TYPE iocgw_hub_{name} gauge", f"iocgw_hub_{name} {fn()}"]
        lines += [
            "# HELP iocgw_hub_write_seconds InfluxDB write request time",
            "# TYPE iocgw_hub_write_seconds histogram",
        ]
        lines += self.write_latency.render("iocgw_hub_write_seconds")
        lines += [
            "# HELP iocgw_hub_ingest_delay_seconds Device timestamp to durable in the hub",
            "# TYPE iocgw_hub_ingest_delay_seconds histogram",
        ]
        lines += self.ingest_delay.render("iocgw_hub_ingest_delay_seconds")
        for more in self.extra:
            lines += more()
        return "\n".join(lines) + "\n"
