"""The ingest benchmark still runs end to end (its figures are not checked here: timing belongs in bench/)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_ingest_benchmark_quick_run_loses_nothing():
    proc = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--quick", "--no-backlog"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["lost"] == 0 and figures["readings"] == 10_000
    assert figures["dead_letters"] == 0 and figures["probes_missing"] == 0
    assert figures["hub_readings_per_s"] > 0 and figures["ceiling_readings_per_s"] > 0


def test_ingest_benchmark_quick_cluster_run_has_the_leader_evaluate_everything():
    # Two hubs in cluster mode on the bench's own PostgreSQL (about 12 s): one ingest-only hub, one leader.
    proc = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--quick", "--skip-ceiling", "--hubs", "2", "--cluster"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["lost"] == 0 and figures["readings"] == 10_000 and figures["backlog_readings_per_s"] is None
    cluster = figures["cluster"]
    assert cluster["leader"] in ("iocgw-bench-hub-1", "iocgw-bench-hub-2")
    assert cluster["leader_done"] and cluster["leader_evaluated_messages"] == 2000
    assert cluster["leader_lag_after_load_s"] is not None and cluster["pg_pending_lines"] == 0
    assert [h["leader"] for h in cluster["cpu"]["hubs"]].count(True) == 1
    assert cluster["cpu"]["leader_feed_cpu_us_per_reading"] is not None
