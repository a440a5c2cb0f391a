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
