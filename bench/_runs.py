"""The three measured runs of bench.ingest: ceiling (bare subscriber), hub, and backlog drain."""

from __future__ import annotations

import argparse
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench._count import StoredCount
from bench._cpu import CpuSnapshot, cores
from bench._hubs import Hubs
from bench._load import NODE_PREFIX, TOPIC_PREFIX, SubscriberSpec, subscriber_main
from bench._loadgen import LoadGenerator, publish_stats
from bench._probe import Probe
from bench._profile import start_py_spy, stop_py_spy
from bench._report import log, percentile, rnd
from testkit.localsvc import InfluxDB, Mosquitto

BACKLOG_PREFIX = "bench-b"  # node ids of the backlog run (fresh ids: their sequence numbers start at 1 again)


def _pid(service: Mosquitto | InfluxDB) -> int | None:
    return service.proc.pid if service.proc else None


def ceiling_run(a: argparse.Namespace, broker: Mosquitto) -> dict[str, Any]:
    log(f"ceiling run: bare subscriber, {a.messages} messages x {a.readings_per_message} readings")
    load = LoadGenerator(a, broker.port)
    groups = {"mosquitto": [_pid(broker)]}
    try:
        load.spawn(
            subscriber_main,
            SubscriberSpec(
                host="127.0.0.1",
                port=broker.port,
                topic_filter=f"{TOPIC_PREFIX}/v1/+/telemetry",
                expected=a.messages,
                qos=a.qos,
                receive_maximum=a.receive_maximum,
                run_timeout_s=a.timeout,
            ),
        )
        load.wait_ready(1)
        load.start_publishers()
        load.wait_ready(len(load.specs))
        cpu0, t_go = CpuSnapshot.take(groups), time.monotonic()
        load.go.set()
        results = load.collect(1 + len(load.specs), a.timeout + 60)
        cpu1, window = CpuSnapshot.take(groups), time.monotonic() - t_go
    finally:
        load.close()
    sub = next(r for r in results if r["role"] == "subscriber")
    pub = publish_stats(results, a.readings_per_message)
    elapsed = sub["last_receive"] - pub["first_publish"]
    msgs_per_s = sub["received"] / elapsed
    # The subscriber and the publishers measure their own CPU time; this process only waits (in 'other').
    cpu_s = {"subscriber": sub["cpu_s"], "load": pub["load_cpu_s"], **cpu1.groups_since(cpu0)}
    out = {
        "received": sub["received"],
        "seconds": elapsed,
        "messages_per_s": msgs_per_s,
        "readings_per_s": msgs_per_s * a.readings_per_message,
        "publish_readings_per_s": pub["publish_readings_per_s"],
        "cpu_cores": cores(cpu_s, window, cpu0, cpu1),
    }
    log(
        f"ceiling: {sub['received']} messages in {elapsed:.2f} s = {msgs_per_s:,.0f} msg/s, "
        f"{out['readings_per_s']:,.0f} readings/s"
    )
    return out


def hub_run(a: argparse.Namespace, work: Path, broker: Mosquitto, influx: InfluxDB) -> dict[str, Any]:
    total = a.messages * a.readings_per_message
    db = f"bench_{time.strftime('%Y%m%d_%H%M%S')}"
    hubs = Hubs(a, work, broker, influx, db)
    counter = StoredCount(influx.url, db, a.readings_per_message, NODE_PREFIX)
    probe = Probe("127.0.0.1", broker.port, influx.url, db)
    load = LoadGenerator(a, broker.port)
    spy: subprocess.Popen[bytes] | None = None
    probe_thread: threading.Thread | None = None
    backlog: dict[str, Any] | None = None
    try:
        log(f"hub run: starting {a.hubs} hub process(es) (log {hubs.logs})")
        hubs.start()
        probe.connect()
        # One probe end to end first: the hub is subscribed and the database exists before the load starts. A hub
        # answers /healthz before its subscription is granted, and a message published before then reaches no one:
        # so a probe not seen within a few seconds is sent again.
        deadline = time.monotonic() + 30
        while not probe.run(1, 0.0, give_up_s=3):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the warm-up probe never reached InfluxDB; see {hubs.logs}")
        probe.reset()
        load.start_publishers()
        load.wait_ready(len(load.specs))
        if a.profile_hub:
            spy = start_py_spy(a.profile_hub, hubs.pids[0], a.profile_gil)
        groups = {"hub": hubs.pids, "mosquitto": [_pid(broker)], "influxd": [_pid(influx)]}
        cpu0 = CpuSnapshot.take(groups)
        log(f"hub run: publishing {a.messages} messages ({total} readings) from {a.nodes} nodes")
        t_go = time.monotonic()
        load.go.set()
        probe_thread = threading.Thread(target=probe.run, args=(a.probes, a.probe_interval), daemon=True)
        probe_thread.start()

        n, t_done = counter.wait_for(total, t_go + a.timeout, "hub run")
        cpu1, cpu_window = CpuSnapshot.take(groups), time.monotonic() - t_go
        if spy is not None:
            stop_py_spy(spy)
            spy = None
        n, last_change = counter.settle(n, t_done is not None)
        t_end = t_done if t_done is not None else last_change
        probe_thread.join(timeout=90)
        results = load.collect(len(load.specs), 60)
        pub = publish_stats(results, a.readings_per_message)
        busy = probe_thread.is_alive()
        idle = probe.run(a.idle_probes, a.probe_interval) if a.idle_probes and not busy else []
        metrics = hubs.metrics()
        rss = hubs.peak_rss_mb()
        if a.backlog and a.hubs == 1:
            backlog = backlog_run(a, hubs, broker, influx, db)
    finally:
        if spy is not None:
            stop_py_spy(spy)
        if probe_thread is not None and probe_thread.is_alive():
            probe_thread.join(timeout=5)
        probe.close()
        counter.close()
        load.close()
        hubs.stop()
    elapsed = t_end - pub["first_publish"]
    readings_per_s = n / elapsed
    lost = total - n
    lat = probe.latencies_ms
    # 'bench' is this process: the probe and the count polling, which share the machine with the hub.
    cpu_s = {**cpu1.groups_since(cpu0), "load": pub["load_cpu_s"], "bench": cpu1.own_since(cpu0)}
    out = {
        "stored": n,
        "lost": lost,
        "seconds": elapsed,
        "readings_per_s": readings_per_s,
        "messages_per_s": readings_per_s / a.readings_per_message,
        "publish_readings_per_s": pub["publish_readings_per_s"],
        "latency_p50_ms": percentile(lat, 50),
        "latency_p99_ms": percentile(lat, 99),
        "latency_max_ms": max(lat) if lat else None,
        "latency_idle_p50_ms": percentile(idle, 50),
        "latency_idle_p99_ms": percentile(idle, 99),
        "probes": len(lat) + len(idle),
        "probes_missing": probe.missing,
        "probe_error": probe.error,
        "duplicates": int(metrics.get("duplicates", 0)),
        "dead_letters": int(metrics.get("dead_letters", 0)),
        "influx_errors": int(metrics.get("influx_errors", 0)),
        "batches_flushed": int(metrics.get("batches_flushed", 0)),
        "peak_rss_mb": rss,
        "cpu_cores": cores(cpu_s, cpu_window, cpu0, cpu1),
        "backlog": backlog,
    }
    log(
        f"hub: {n}/{total} readings stored in {elapsed:.2f} s = {readings_per_s:,.0f} readings/s; lost {lost}; "
        f"latency p50 {rnd(out['latency_p50_ms'])} ms p99 {rnd(out['latency_p99_ms'])} ms"
    )
    return out


def backlog_run(a: argparse.Namespace, hubs: Hubs, broker: Mosquitto, influx: InfluxDB, db: str) -> dict[str, Any]:
    """The hub stopped; the same load queued in the broker for its session; the hub started: its drain rate.

    Nothing else runs while the hub drains, so this is what the hub alone does with the machine (the broker
    and InfluxDB beside it), not sharing the CPU with the load generator.
    """
    total = a.messages * a.readings_per_message
    log("backlog run: hub stopped; publishing the load into the broker's queue for its session")
    hubs.stop()
    load = LoadGenerator(a, broker.port, node_prefix=BACKLOG_PREFIX)
    counter = StoredCount(influx.url, db, a.readings_per_message, BACKLOG_PREFIX)
    try:
        load.start_publishers()
        load.wait_ready(len(load.specs))
        load.go.set()
        load.collect(len(load.specs), a.timeout + 60)
        t_start = time.monotonic()
        hubs.start()
        t_ready = time.monotonic()
        n0 = counter()
        groups = {"hub": hubs.pids, "mosquitto": [_pid(broker)], "influxd": [_pid(influx)]}
        cpu0 = CpuSnapshot.take(groups)
        log(f"backlog run: hub up in {t_ready - t_start:.2f} s, draining {total - n0} readings")
        n, t_done = counter.wait_for(total, t_ready + a.timeout, "backlog run")
        cpu1, window = CpuSnapshot.take(groups), time.monotonic() - t_ready
        n, last_change = counter.settle(n, t_done is not None)
        t_end = t_done if t_done is not None else last_change
        metrics = hubs.metrics()
        rss = hubs.peak_rss_mb()
    finally:
        counter.close()
        load.close()
    rate = (n - n0) / (t_end - t_ready)
    out = {
        "readings_per_s": rate,
        "seconds": t_end - t_ready,
        "hub_start_s": t_ready - t_start,
        "lost": total - n,
        "duplicates": int(metrics.get("duplicates", 0)),
        "dead_letters": int(metrics.get("dead_letters", 0)),
        "peak_rss_mb": rss,
        "cpu_cores": cores({**cpu1.groups_since(cpu0), "bench": cpu1.own_since(cpu0)}, window, cpu0, cpu1),
    }
    log(f"backlog: {n - n0} readings drained in {t_end - t_ready:.2f} s = {rate:,.0f} readings/s; lost {total - n}")
    return out
