"""The latency probe of bench.ingest: device timestamp -> queryable in InfluxDB, one single-reading message each."""

from __future__ import annotations

import contextlib
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from bench._load import TOPIC_PREFIX, iso_ms
from bench._load import connect as connect_mqtt
from hub.store.influx_query import InfluxReader

PROBE_NODE = "probe"
PROBE_MEASUREMENT = "water_level"


class Probe:
    """Single-reading messages from their own node, each polled in InfluxDB until queryable.

    Latency = wall clock when a query first returns the point - the reading's device timestamp (= wall clock
    when it was published). One thread sends every ``interval`` s and queries every ``poll_s`` s between sends.
    """

    def __init__(self, host: str, port: int, influx_url: str, db: str) -> None:
        self.influx = InfluxReader(influx_url, db)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{time.time_ns()}", protocol=MQTTProtocolVersion.MQTTv5
        )
        self.host, self.port = host, port
        self.topic = f"{TOPIC_PREFIX}/v1/{PROBE_NODE}/telemetry"
        self.seq = 0
        self.last_ts = 0
        self.latencies_ms: list[float] = []
        self.missing = 0
        self.error: str | None = None

    def connect(self, timeout: float = 30.0) -> None:
        connect_mqtt(self.client, self.host, self.port, timeout)

    def reset(self) -> None:
        """Forget what was measured so far (the warm-up probe is no sample)."""
        self.latencies_ms.clear()
        self.missing = 0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
            self.client.loop_stop()
        self.influx.close()

    def _send(self) -> int:
        # Whole, strictly increasing milliseconds: the timestamp is the probe's key in InfluxDB (no overwrite).
        ts = max(int(time.time() * 1000), self.last_ts + 1)
        self.last_ts = ts
        self.seq += 1
        t = iso_ms(ts)
        payload = (
            f'{{"v":1,"channel":"telemetry","node_id":"{PROBE_NODE}","seq":{self.seq},"ts":"{t}","readings":'
            f'[{{"sensor_id":"p0","quantity":"{PROBE_MEASUREMENT}","value":{float(self.seq)},"unit":"m","ts":"{t}"}}]}}'
        )
        self.client.publish(self.topic, payload.encode(), qos=1)
        return ts

    def run(self, count: int, interval: float, give_up_s: float = 60.0, poll_s: float = 0.005) -> list[float]:
        """Send ``count`` probes; return their latencies (ms). Probes not seen in ``give_up_s`` count as missing."""
        found: list[float] = []
        pending: set[int] = set()
        sent = 0
        next_send = time.monotonic()
        try:
            while sent < count or pending:
                now = time.monotonic()
                if sent < count and now >= next_send:
                    pending.add(self._send())
                    sent += 1
                    next_send += interval
                if pending:
                    oldest = min(pending)
                    rows = self.influx.query(
                        f'SELECT "value" FROM "{PROBE_MEASUREMENT}" WHERE "node_id" = \'{PROBE_NODE}\' '
                        f"AND time >= {oldest}ms"
                    )
                    seen_ms = time.time() * 1000
                    for row in rows:
                        ts = int(row["time"])
                        if ts in pending:
                            pending.discard(ts)
                            found.append(seen_ms - ts)
                    for ts in [t for t in pending if seen_ms - t > give_up_s * 1000]:
                        pending.discard(ts)
                        self.missing += 1
                time.sleep(poll_s)
        except Exception as exc:
            # Recorded, not raised: a failing probe must not lose the throughput figures of the run.
            self.error = f"{type(exc).__name__}: {exc}"
            self.missing += len(pending) + (count - sent)
        self.latencies_ms.extend(found)
        return found
