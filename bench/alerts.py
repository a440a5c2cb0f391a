"""Alert latency benchmark: a threshold crossing published by a node -> signed webhook received, under load.

``iocgw bench alerts`` or ``python -m bench.alerts``. Progress goes to stderr; the last stdout line is one JSON
object of figures (docs/benchmarks.md, "Alerts"). Exit code 0 when every crossing was notified, 1 otherwise.

1. Mosquitto and InfluxDB start as child processes in a runtime folder; a webhook receiver (HTTP, HMAC-checked)
   runs in this process.
2. The hub (``python -m iocgw hub run``) starts with one flood station bound to the probe node's stage sensor
   and a webhook target pointing at the receiver.
3. Background load: paced publisher processes send telemetry at ``--background`` readings/s for the whole
   measurement (bench._alerts_load.Background, the ingest benchmark's payload format and connection code).
4. Crossings: an edge-like publisher moves the probe station's stage above BĐ1 and back below it (out of the
   hysteresis band), ``--crossings`` times, one every ``--interval`` s; each crossing opens a new flood alarm
   or clears it, so each must produce one webhook. Device timestamp = publish time; latency = the receiver's
   clock when the request arrives - the publish time (one clock: both are in this process).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bench._alerts_load import Background, EdgePublisher, WebhookReceiver
from bench._report import bench_main, percentile, rnd, run_cli, runtime_folder
from testkit.hubproc import HubProcess
from testkit.localsvc import InfluxDB, Mosquitto

PROBE_NODE = "bench-alert-probe"
STATION = "bench-probe-station"
BD = (5.0, 6.0, 7.0)  # the probe station's BĐ1-3, metres
HIGH, LOW = 5.5, 4.5  # above BĐ1; below BĐ1 by more than the 0.05 m hysteresis
SECRET_ENV = "IOCGW_BENCH_WEBHOOK_SECRET"


def log(msg: str) -> None:
    print(f"[bench.alerts {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crossings", type=int, default=150, help="threshold crossings measured (default 150)")
    p.add_argument("--interval", type=float, default=0.2, help="seconds between crossings (default 0.2)")
    p.add_argument(
        "--background", type=float, default=5000.0, help="background load, readings/s (default 5000; 0: none)"
    )
    p.add_argument("--readings-per-message", type=int, default=5, help="background readings per message (5)")
    p.add_argument("--background-nodes", type=int, default=50, help="background node ids (default 50)")
    p.add_argument("--publishers", type=int, default=1, help="background publisher processes (default 1)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of background load before crossings (3)")
    p.add_argument(
        "--batch-delay", type=float, default=None, help="hub batch.max_delay_s (default: the hub's own, 0.25 s)"
    )
    p.add_argument("--timeout", type=float, default=60.0, help="longest wait for notifications, s (default 60)")
    p.add_argument("--runtime", default=None, help="folder for broker, InfluxDB and hub data (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the temp runtime folder")


def _check(a: argparse.Namespace) -> None:
    if a.crossings < 2 or a.interval <= 0 or a.background < 0 or a.warmup < 0 or a.timeout <= 0:
        raise ValueError("need --crossings >= 2, --interval > 0, --background >= 0, --warmup >= 0, --timeout > 0")
    if a.background and (a.readings_per_message < 1 or a.background_nodes < 1 or a.publishers < 1):
        raise ValueError("--readings-per-message, --background-nodes and --publishers must be at least 1")


def hub_config(work: Path, broker: Mosquitto, influx: InfluxDB, webhook_url: str, batch_delay: float | None) -> dict:
    table = work / "flood_stations.yaml"
    station = {
        "station_id": STATION,
        "node_id": PROBE_NODE,
        "sensor_id": "stage",
        "river": "Bench",
        "name": "Probe station",
        "province": "Hà Nội",
        "bd1_m": BD[0],
        "bd2_m": BD[1],
        "bd3_m": BD[2],
        "source": "bench.alerts (synthetic)",
    }
    table.write_text(yaml.safe_dump({"stations": [station]}, allow_unicode=True), encoding="utf-8")
    # The probe steps a metre in seconds, which the hub's quality control rightly takes for a fault (rate of
    # change, spike) and keeps from the alarms: off for the probe sensor only, so the bench measures the alert path.
    # Every reading (the background load's too) still goes through quality control, cost included.
    quality = work / "quality.yaml"
    override = {"node_id": PROBE_NODE, "sensor_id": "stage", "rate_of_change": None, "spike": None}
    quality.write_text(yaml.safe_dump({"stations": [override]}), encoding="utf-8")
    config: dict[str, Any] = {
        "quality": {"file": str(quality)},
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "client_id": "iocgw-bench-alerts-hub"},
        "influx": {"url": influx.url, "database": "bench_alerts"},
        "registry": {"accept_unknown_nodes": True},
        "http": {"host": "127.0.0.1"},
        "alerts": {"flood_stations": str(table), "freshness": {"enabled": False}},
        "notify": {
            "retry_initial_s": 0.2,
            "rate_limit_per_min": 600_000,  # measure the path, not the rate limiter
            "rate_limit_burst": 10_000,
            "targets": [{"type": "webhook", "name": "bench", "url": webhook_url, "secret": {"env": SECRET_ENV}}],
            "routes": [{"name": "all", "rules": ["flood_level"], "targets": ["bench"]}],
        },
    }
    if batch_delay is not None:
        config["batch"] = {"max_delay_s": batch_delay}
    return config


def _epoch_ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def measure(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    secret = secrets.token_hex(16)
    os.environ[SECRET_ENV] = secret  # the hub child process inherits it (a secret is never written to config)
    broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
    receiver = WebhookReceiver(secret)
    hub: HubProcess | None = None
    probe: EdgePublisher | None = None
    background: Background | None = None
    try:
        broker.start()
        influx.start()
        hub = HubProcess(work / "hub", hub_config(work, broker, influx, receiver.url, a.batch_delay))
        hub.start()
        log(f"hub up (log {hub.log}); webhook receiver at {receiver.url}")
        probe = EdgePublisher("127.0.0.1", broker.port, PROBE_NODE, "stage")
        probe.connect()
        _warm_up_alarm(probe, receiver, hub)
        base = len(receiver.received)
        if a.background:
            background = _background(a, broker.port)
            background.start()
            log(
                f"background load: {a.background:,.0f} readings/s from {a.background_nodes} nodes; warm-up {a.warmup} s"
            )
            _wait_for_steady_state(a, hub)
        m0, t0 = hub.metrics(), time.monotonic()
        crossings = _cross(a, probe)
        complete = receiver.wait_for(base + a.crossings, a.timeout)
        m1, t1 = hub.metrics(), time.monotonic()
        bg = background.stop() if background is not None else None
        log("crossings done" + ("" if complete else f"; still missing after {a.timeout} s"))
    finally:
        if background is not None:
            background.close()
        if probe is not None:
            probe.close()
        if hub is not None:
            hub.stop()
        receiver.close()
        influx.stop()
        broker.stop()

    latencies, wrong = _latencies(receiver, base, crossings)
    window = t1 - t0
    hub_rate = (m1.get("readings_received", 0) - m0.get("readings_received", 0)) / window if window > 0 else None
    return {
        "bench": "alerts",
        "crossings": a.crossings,
        "interval_s": a.interval,
        "notified": len(latencies),
        "missing": a.crossings - len(latencies) - wrong,
        "wrong_transition": wrong,
        "repeated_deliveries": receiver.repeats,
        "bad_signatures": receiver.bad_signatures,
        "latency_p50_ms": rnd(percentile(latencies, 50)),
        "latency_p90_ms": rnd(percentile(latencies, 90)),
        "latency_p99_ms": rnd(percentile(latencies, 99)),
        "latency_max_ms": rnd(max(latencies)) if latencies else None,
        "latency_min_ms": rnd(min(latencies)) if latencies else None,
        "background_target_readings_per_s": a.background,
        "background_published_readings_per_s": rnd(bg["readings_per_s"], 0) if bg and bg["readings_per_s"] else 0,
        "background_late_messages": bg["late"] if bg else 0,
        "hub_readings_per_s": rnd(hub_rate, 0),
        "measurement_s": rnd(window, 2),
        "hub_batch_delay_s": a.batch_delay if a.batch_delay is not None else 0.25,
        "dead_letters": int(m1.get("dead_letters", 0)),
        "alert_errors": int(m1.get("alert_errors", 0)),
        "cores": os.cpu_count(),
    }


def _warm_up_alarm(probe: EdgePublisher, receiver: WebhookReceiver, hub: HubProcess) -> None:
    """One alarm opened and cleared end to end, so the subscription, database and notifier session are all live."""
    probe.publish(HIGH)
    probe.publish(LOW)
    if not receiver.wait_for(2, 60):
        raise RuntimeError(f"the warm-up alarm never reached the webhook; see {hub.log}")


def _background(a: argparse.Namespace, broker_port: int) -> Background:
    return Background(
        "127.0.0.1",
        broker_port,
        a.background,
        a.readings_per_message,
        a.background_nodes,
        a.publishers,
        timeout_s=a.warmup + a.crossings * a.interval + a.timeout + 120,
    )


def _wait_for_steady_state(a: argparse.Namespace, hub: HubProcess) -> None:
    """Until the hub has taken in about --warmup seconds of the background load (deadline: 3x that)."""
    want = hub.metrics().get("readings_received", 0) + 0.9 * a.background * a.warmup
    deadline = time.monotonic() + 3 * a.warmup + 10
    while hub.metrics().get("readings_received", 0) < want:
        if time.monotonic() > deadline:
            log("warm-up: the hub is behind the background load; measuring anyway")
            break
        time.sleep(0.1)


def _cross(a: argparse.Namespace, probe: EdgePublisher) -> list[tuple[int, float, str]]:
    """Alternate the probe's stage above and below BĐ1, one crossing every --interval s: (device ts ms, publish
    wall time, expected transition) of each."""
    crossings: list[tuple[int, float, str]] = []
    log(f"{a.crossings} crossings, one every {a.interval} s")
    start = time.monotonic()
    for k in range(a.crossings):
        due = start + k * a.interval
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the crossings: a schedule, nothing to wait for
        up = k % 2 == 0
        ts, sent = probe.publish(HIGH if up else LOW)
        crossings.append((ts, sent, "created" if up else "cleared"))
    return crossings


def _latencies(
    receiver: WebhookReceiver, base: int, crossings: list[tuple[int, float, str]]
) -> tuple[list[float], int]:
    """Publish-to-webhook latency (ms) of each crossing notified with the right transition, and how many were
    notified with a wrong one. Webhooks are matched to crossings by the alarm's device time."""
    by_ts = {_epoch_ms(r.payload["alarm"]["updated_at"]): r for r in receiver.received[base:]}
    latencies: list[float] = []
    wrong = 0
    for ts, sent, transition in crossings:
        r = by_ts.get(ts)
        if r is None:
            continue
        if r.payload["transition"] != transition or r.payload["alarm"]["subject"] != STATION:
            wrong += 1
            continue
        latencies.append((r.at - sent) * 1000)
    return latencies, wrong


def run(args: argparse.Namespace) -> dict[str, Any]:
    _check(args)
    with runtime_folder(args, "alerts") as folder:
        result = measure(args, folder.work)
        folder.failed = result["missing"] != 0 or result["wrong_transition"] != 0
        log(
            f"{result['notified']}/{result['crossings']} crossings notified; latency p50 {result['latency_p50_ms']} ms "
            f"p99 {result['latency_p99_ms']} ms max {result['latency_max_ms']} ms; background "
            f"{result['background_published_readings_per_s']} readings/s published, {result['hub_readings_per_s']} "
            "readings/s received by the hub"
        )
        return result


def main(args: argparse.Namespace) -> int:
    """Run the benchmark; print one JSON line last on stdout. 0 when every crossing was notified, 1 otherwise."""
    return bench_main("alerts", run, args, _succeeded)


def _succeeded(result: dict[str, Any]) -> bool:
    return result["missing"] == 0 and result["wrong_transition"] == 0 and not result["bad_signatures"]


if __name__ == "__main__":
    sys.exit(run_cli("alerts", __doc__, add_arguments, main))
