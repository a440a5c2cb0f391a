"""End-to-end ingest benchmark: load generator -> Mosquitto -> hub -> InfluxDB, against a bare-subscriber ceiling."""

# ``iocgw bench ingest`` or ``python -m bench.ingest``. Progress goes to stderr; the last stdout line is one JSON
# object of figures (docs/benchmarks.md explains each). Exit code 0 when no reading was lost, 1 otherwise.
#
# 1. Mosquitto and InfluxDB start as child processes in a runtime folder (testkit.localsvc).
# 2. Ceiling run: a bare paho subscriber process (MQTT v5, QoS 1, automatic PUBACK, counts only) receives while
#    the load generator publishes the same messages as in the hub run.
# 3. Hub run: ``python -m iocgw hub run`` as a child process; the load generator publishes; the InfluxDB count is
#    polled until every reading is stored; a probe measures device timestamp -> queryable latency.
# 4. Backlog run (unless --no-backlog; one hub only, not with --cluster): the hub stopped, the same load queued in
#    the broker for its persistent session, the hub started again: how fast the hub alone drains it, not sharing the
#    CPU with the load generator.
# --cluster: the hubs run in cluster mode (alerts.cluster) on a PostgreSQL the bench starts; the hub run waits for a
#    leader with its feed subscribed before the load, and for the leader to have evaluated every message after it
#    (bench._hubs.ClusterRun); the JSON line gets a "cluster" object.
#
# The runs are in bench._runs; this module holds the command line and starts and stops the services around them.

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from typing import Any

from bench._hubs import CLUSTER_PG_ENV, ClusterRun
from bench._load import TIMINGS_ENV
from bench._report import bench_main, figures, quick_defaults, require_at_least_one, run_cli, runtime_folder
from bench._runs import ceiling_run, hub_run
from testkit.localsvc import InfluxDB, Mosquitto, PostgreSQL


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nodes", type=int, default=50, help="distinct node ids in the load (default 50)")
    p.add_argument("--messages", type=int, default=None, help="telemetry messages in total (default 60000)")
    p.add_argument("--readings-per-message", type=int, default=5, help="readings per message (default 5)")
    p.add_argument("--publishers", type=int, default=2, help="load-generator processes (default 2)")
    p.add_argument("--clients-per-publisher", type=int, default=2, help="paho clients per publisher (default 2)")
    p.add_argument("--runtime", default=None, help="folder for broker, InfluxDB and hub data (default: a temp dir)")
    p.add_argument("--qos", type=int, choices=(1,), default=1, help="MQTT QoS of the load (1)")
    p.add_argument("--quick", action="store_true", help="small smoke-test run (2000 messages)")
    p.add_argument("--probes", type=int, default=None, help="latency probes during the load (default 150)")
    p.add_argument("--idle-probes", type=int, default=None, help="latency probes after the load (default 40)")
    p.add_argument("--probe-interval", type=float, default=0.05, help="seconds between probes (default 0.05)")
    p.add_argument("--batch-lines", type=int, default=5000, help="hub batch.max_lines (default 5000)")
    p.add_argument("--batch-delay", type=float, default=0.25, help="hub batch.max_delay_s (default 0.25)")
    p.add_argument("--receive-maximum", type=int, default=10_000, help="hub and ceiling MQTT receive maximum")
    p.add_argument("--timeout", type=float, default=300.0, help="longest wait for each run to drain, s (default 300)")
    p.add_argument("--hubs", type=int, default=1, help="hub processes sharing the load (mqtt.shared_group)")
    p.add_argument(
        "--cluster",
        action="store_true",
        help="hubs in cluster mode (alerts.cluster) on a PostgreSQL of the bench's: the leader's lag and CPU",
    )
    p.add_argument("--no-backlog", dest="backlog", action="store_false", help="skip the backlog-drain run")
    p.add_argument("--skip-ceiling", action="store_true", help="hub run only (no ratio_to_ceiling)")
    p.add_argument("--keep", action="store_true", help="keep the temp runtime folder")
    p.add_argument(
        "--profile-hub",
        default=None,
        metavar="FILE",
        help="py-spy the hub during the hub run (.svg flame graph, .txt collapsed stacks, .json speedscope)",
    )
    p.add_argument(
        "--profile-gil", action="store_true", help="with --profile-hub: sample only the thread holding the GIL"
    )


def _resolve(args: argparse.Namespace) -> argparse.Namespace:
    """A copy of the arguments with the --quick-dependent defaults filled in, checked."""
    a = quick_defaults(args, messages=(2000, 60_000), probes=(40, 150), idle_probes=(20, 40))
    require_at_least_one(a, "nodes", "messages", "readings_per_message", "publishers", "clients_per_publisher", "hubs")
    if a.messages < a.nodes:
        raise ValueError("--messages must be at least --nodes")
    if a.readings_per_message > 1000:
        raise ValueError("--readings-per-message is at most 1000 (the contract's limit)")
    if a.cluster:
        # The backlog run restarts the hub, which would hand the leadership over mid-measurement.
        a.backlog = False
    return a


def _version(cmd: list[str], pattern: str, fallback: str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        m = re.search(pattern, out.stdout + out.stderr)
        return m.group(1) if m else fallback
    except (OSError, subprocess.SubprocessError):
        return fallback


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the services, run the ceiling and hub runs, stop everything; the figures."""
    a = _resolve(args)
    cluster: dict[str, Any] | None = None
    with runtime_folder(a, "ingest") as folder:
        broker = Mosquitto(folder.work / "mosquitto")
        influx = InfluxDB(folder.work / "influxdb")
        pg = PostgreSQL(folder.work / "postgresql") if a.cluster else None
        run_ = None
        try:
            versions = {
                "mosquitto": _version([broker.executable(), "-h"], r"mosquitto version (\S+)", "unknown"),
                "influxdb": _version([influx.executable(), "version"], r"InfluxDB v(\d+\.\d+\.\d+)", "unknown"),
            }
            broker.start()
            influx.start()
            if pg is not None:
                versions["postgresql"] = _version([str(pg.bindir / "postgres"), "--version"], r"(\d+\.\d+)", "?")
                pg.start()
            ceiling = None if a.skip_ceiling else ceiling_run(a, broker)
            if pg is not None:
                # bench._runs builds the hubs (bench._hubs.Hubs) from the arguments: the ClusterRun goes on them.
                run_ = a.cluster_run = ClusterRun(pg, a.messages)
                # Set only now: the ceiling run's publishers must not leave timings of their own there.
                timings = folder.work / "load-timings"
                timings.mkdir()
                os.environ[TIMINGS_ENV] = str(timings)
            hub = hub_run(a, folder.work, broker, influx)
            if run_ is not None:
                cluster = run_.figures(a, hub, timings)
        finally:
            os.environ.pop(TIMINGS_ENV, None)
            os.environ.pop(CLUSTER_PG_ENV, None)
            if run_ is not None:
                run_.close()
            if pg is not None:
                pg.stop()
            influx.stop()
            broker.stop()
    out = figures(a, ceiling, hub, versions)
    if cluster is not None:
        out["cluster"] = cluster
    return out


def _succeeded(r: dict[str, Any]) -> bool:
    """Nothing lost; with --cluster, the leader also evaluated every message."""
    cluster = r.get("cluster")
    return r["lost"] == 0 and not r.get("backlog_lost") and (cluster is None or bool(cluster["leader_done"]))


def main(args: argparse.Namespace) -> int:
    """Run the benchmark; print one JSON line last on stdout. 0 when nothing was lost, 1 otherwise."""
    return bench_main("ingest", run, args, _succeeded)


if __name__ == "__main__":
    sys.exit(run_cli("ingest", __doc__, add_arguments, main))
