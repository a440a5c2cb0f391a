"""Several hubs on one shared subscription against one hub: the alarms, notifications, Nesterov index and readings.

``python -m bench.multihub`` (``--quick`` for a short check; ``--cluster`` for the cluster runs, i.e.
``--modes single,cluster,cluster_kill``; ``python -m bench.multihub --quick --cluster`` takes about 30 s on 2 cores,
``python -m bench.multihub --cluster`` about 80 s; figures of 2026-12-04 in docs/benchmarks.md). Progress goes to
stderr; the last stdout line is one JSON object of figures. Exit code 0 when every run completed (whatever the
differences it measured: issue 17 is about making them 0), 1 otherwise.

For each scenario (typhoon_flood: flood levels, heavy rain and disaster risk; dry_season_fire: the Nesterov fire
danger and camera fire alarms), replayed on scenario time through real edge agents, Mosquitto, hub processes and
InfluxDB (one broker and one InfluxDB for all runs; each run its own topic prefix, database, receiver and hub
data dirs):

- ``single``: one hub, the reference;
- ``single_again``: one hub again, compared with the first: what differs between two runs of one hub (the
  interleaving of different nodes' messages is not fixed, and rules that combine nodes, such as an area's
  disaster risk, can see it);
- ``shared``: ``--hubs`` hubs on one MQTT v5 shared subscription (``mqtt.shared_group``);
- ``shared_kill``: the same, one hub SIGKILLed once ``--kill-at`` of the scenario is written and started again at
  ``--restart-at``;
- ``cluster``: ``--hubs`` hubs on the shared subscription with ``alerts.cluster`` (docs/scaling.md, "Cluster
  mode"): one leader runs the alert engine on PostgreSQL. One PostgreSQL for the bench (in the runtime folder),
  a database of its own per run (bench._multihub_cluster);
- ``cluster_kill``: the same, the leader (the holder of the leadership lock) SIGKILLed at ``--kill-at`` and started
  again at ``--restart-at``; ``kill.failover_s`` is the time from the SIGKILL to the next leader's epoch committed
  with its lock held, ``kill.feed_live_s`` to its alert feed subscribed.

Per run: the alarm transitions every hub's engine committed (alerts.db; in the cluster runs the leaders'
``iocgw_alerts.alarm_events`` in PostgreSQL), the webhook notifications received, the readings stored, the
Nesterov points, each hub's readings received (and per second of replay), what settling waited on
(``settle_waited_on``, seconds per reason); each multi-hub run is compared with the reference
(bench._multihub_compare).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from bench._multihub_compare import compare
from bench._multihub_run import Mode, Run, log
from bench._multihub_setup import SCENARIOS, SECRET_ENV, scenario_setup
from bench._report import bench_main, quick_defaults, run_cli, runtime_folder
from testkit.localsvc import InfluxDB, Mosquitto, PostgreSQL

MODES = ("single", "single_again", "shared", "shared_kill", "cluster", "cluster_kill")
DEFAULT_MODES = ("single", "single_again", "shared", "shared_kill")
CLUSTER_MODES = ("single", "cluster", "cluster_kill")
TOTALS = (
    "transitions_missing",
    "transitions_extra",
    "transitions_missing_timed",
    "transitions_extra_timed",
    "notifications_missing",
    "notifications_extra",
    "duplicate_notifications",
    "subjects_with_two_hubs_alarming",
    "readings_lost",
    "nesterov_points_differ",
    "nesterov_days_differ",
    "qc_flags_missing",
    "qc_flags_extra",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a short check: typhoon_flood's first 36 h, small steps")
    p.add_argument(
        "--scenarios",
        default=None,
        help=f"comma-separated scenarios (default {','.join(SCENARIOS)}; quick: typhoon_flood)",
    )
    p.add_argument(
        "--modes",
        default=None,
        help=f"runs, the first one hub: {', '.join(MODES)} (default {','.join(DEFAULT_MODES)})",
    )
    p.add_argument(
        "--cluster",
        action="store_true",
        help=f"the cluster runs (alerts.cluster on one PostgreSQL): --modes {','.join(CLUSTER_MODES)}",
    )
    p.add_argument("--hubs", type=int, default=3, help="hubs of the shared and cluster runs (default 3)")
    p.add_argument(
        "--until", type=float, default=None, help="scenario seconds replayed (default: all; quick: 129600 = 36 h)"
    )
    p.add_argument(
        "--window", type=float, default=None, help="scenario seconds per replay step (default 10800; quick: 3600)"
    )
    p.add_argument(
        "--kill-at",
        type=float,
        default=0.4,
        help="shared_kill, cluster_kill: kill a hub (cluster_kill: the leader) at this scenario fraction",
    )
    p.add_argument("--restart-at", type=float, default=0.7, help="*_kill: start it again at this fraction")
    p.add_argument(
        "--down-s",
        type=float,
        default=None,
        help="*_kill: start the hub again after at most this many seconds (default: at --restart-at; quick: 2)",
    )
    p.add_argument(
        "--session-expiry-s",
        type=int,
        default=None,
        help="mqtt.session_expiry_s of the shared runs' hubs (default: the hub's own, 0 in a shared group)",
    )
    p.add_argument("--drain-timeout", type=float, default=120.0, help="longest wait for node outboxes, s (120)")
    p.add_argument("--timeout", type=float, default=600.0, help="longest wait for one replay or settling, s (600)")
    p.add_argument(
        "--runtime", default=None, help="folder for broker, InfluxDB, PostgreSQL and hub data (default: a temp dir)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temp runtime folder")


def _check(a: argparse.Namespace) -> None:
    if a.hubs < 2:
        raise ValueError("--hubs must be at least 2")
    if not 0 < a.kill_at < a.restart_at <= 1:
        raise ValueError("need 0 < --kill-at < --restart-at <= 1")
    if a.modes[0] != "single" or any(m not in MODES for m in a.modes):
        raise ValueError(f"--modes: the first must be single, each one of {', '.join(MODES)}")
    if any(s not in SCENARIOS for s in a.scenarios):
        raise ValueError(f"--scenarios: each one of {', '.join(SCENARIOS)}")


def _figures(run: dict[str, Any]) -> dict[str, Any]:
    """A run's figures without its raw lists."""
    return {k: v for k, v in run.items() if k not in ("transitions", "deliveries", "nesterov", "qc")}


def measure(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    a.secret = secrets.token_hex(16)
    os.environ[SECRET_ENV] = a.secret  # the hub child processes inherit it (a secret is never written to config)
    broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
    modes = [
        Mode(m, 1 if m.startswith("single") else a.hubs, m.endswith("_kill"), m.startswith("cluster")) for m in a.modes
    ]
    # One PostgreSQL for every cluster run, a database of its own per run (bench._multihub_cluster).
    pg = PostgreSQL(work / "postgresql") if any(m.cluster for m in modes) else None
    results: dict[str, Any] = {}
    totals: dict[str, dict[str, int]] = {m.name: dict.fromkeys(TOTALS, 0) for m in modes[1:]}
    reference_transitions: dict[str, int] = {}
    t_start = time.monotonic()
    try:
        broker.start()
        influx.start()
        if pg is not None:
            pg.start()
        for s_index, name in enumerate(a.scenarios):
            per_mode: dict[str, Any] = {}
            reference: dict[str, Any] | None = None
            duration = 0.0
            for m_index, mode in enumerate(modes):
                folder = work / f"{name}-{mode.name}"
                t0 = time.monotonic()
                setup = scenario_setup(name, folder, broker.port, f"mh{s_index}{m_index}", a.until)
                log(f"{name}/{mode.name}: scenario sampled in {time.monotonic() - t0:.1f} s ({setup.replay.counts()})")
                duration = setup.replay.duration_s
                out = Run(a, folder, setup, mode, broker, influx, pg).execute()
                figures = _figures(out)
                if reference is None:
                    reference = out
                    reference_transitions[name] = len(out["transitions"])
                    figures["transitions"] = len(out["transitions"])
                    figures["notifications"] = len(out["deliveries"])
                    figures["nesterov_points"] = len(out["nesterov"])
                    figures["qc_flagged"] = len(out["qc"])
                else:
                    figures["vs_reference"] = compare(reference, out)
                    for k in TOTALS:
                        totals[mode.name][k] += int(figures["vs_reference"].get(k, 0))
                per_mode[mode.name] = figures
            results[name] = {"scenario_s": duration, "runs": per_mode}
    finally:
        if pg is not None:
            pg.stop()
        influx.stop()
        broker.stop()
    return {
        "bench": "multihub",
        "quick": a.quick,
        "hubs": a.hubs,
        "modes": a.modes,
        "scenarios": a.scenarios,
        "until_s": a.until,
        "session_expiry_s": a.session_expiry_s,
        "reference_transitions": reference_transitions,
        "totals": totals,
        "scenario_runs": results,
        "wall_s": round(time.monotonic() - t_start, 1),
        "cores": os.cpu_count(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    a = quick_defaults(
        args,
        scenarios=("typhoon_flood", ",".join(SCENARIOS)),
        until=(129_600.0, None),
        window=(3600.0, 10_800.0),
        down_s=(2.0, None),
    )
    a.scenarios = [s for s in a.scenarios.split(",") if s]
    if a.cluster and a.modes is not None:
        raise ValueError("--cluster selects the modes: give --cluster or --modes, not both")
    modes = ",".join(CLUSTER_MODES) if a.cluster else a.modes or ",".join(DEFAULT_MODES)
    a.modes = [m for m in modes.split(",") if m]
    _check(a)
    with runtime_folder(a, "multihub") as folder:
        result = measure(a, folder.work)
        for mode, t in result["totals"].items():
            log(f"{mode}: " + ", ".join(f"{k} {v}" for k, v in t.items()))
        return result


def main(args: argparse.Namespace) -> int:
    """Run the benchmark; print one JSON line last on stdout. 0 when every run completed, 1 otherwise."""
    return bench_main("multihub", run, args)


if __name__ == "__main__":
    sys.exit(run_cli("multihub", __doc__, add_arguments, main))
