"""Counting the load's readings stored in InfluxDB: polled until all are there, then until the count settles."""

from __future__ import annotations

import time

from bench._load import measurements
from bench._report import log
from hub.store.influx_query import InfluxReader

COUNT_POLL_S = 0.25


class StoredCount:
    """``SELECT count(value)`` over the load's measurements and nodes, polled every COUNT_POLL_S."""

    def __init__(self, influx_url: str, db: str, rpm: int, node_prefix: str) -> None:
        self.influx = InfluxReader(influx_url, db)
        # Only the load's measurements and nodes: the probe writes water_level too, from node 'probe'.
        self.source = "/^(" + "|".join(measurements(rpm)) + ")$/"
        self.where = f'WHERE "node_id" =~ /^{node_prefix}/'

    def __call__(self) -> int:
        return self.influx.count(self.source, self.where)

    def wait_for(self, total: int, deadline: float, what: str) -> tuple[int, float | None]:
        """Poll until the count reaches ``total`` (time it did) or the deadline (None)."""
        n, last_log, t0 = 0, time.monotonic(), time.monotonic()
        while time.monotonic() < deadline:
            n = self()
            now = time.monotonic()
            if n >= total:
                return n, now
            if now - last_log >= 5:
                log(f"{what}: {n}/{total} readings stored after {now - t0:.1f} s")
                last_log = now
            time.sleep(COUNT_POLL_S)
        return n, None

    def settle(self, n: int, reached: bool) -> tuple[int, float]:
        """Poll until the count has not changed for 1 s (5 s when short); (count, time of its last change)."""
        # Loss is declared only once nothing more arrives: a late batch would otherwise read as lost.
        quiet_needed = 1.0 if reached else 5.0
        last_change = time.monotonic()
        deadline = last_change + 60
        while time.monotonic() < deadline:
            time.sleep(COUNT_POLL_S)
            m = self()
            if m != n:
                n, last_change = m, time.monotonic()
            elif time.monotonic() - last_change >= quiet_needed:
                break
        return n, last_change

    def close(self) -> None:
        self.influx.close()
