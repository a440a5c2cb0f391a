"""The multi-hub benchmark still runs end to end and reports what it measures. Whether several hubs agree with one
is not judged here (on a shared subscription alone they do not); only that the one-hub reference is a sound
yardstick. The cluster modes' runs (bench._multihub_run with PostgreSQL) are judged, and must agree, in
tests/integration/test_cluster_equivalence.py, which drives the same code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

COMPARED = (
    "transitions",
    "transitions_missing",
    "transitions_extra",
    "transitions_missing_timed",
    "transitions_extra_timed",
    "notifications",
    "notifications_missing",
    "notifications_extra",
    "duplicate_notifications",
    "subjects_with_two_hubs_alarming",
    "readings_lost",
)
RUN = ("hubs", "readings", "readings_stored", "readings_lost", "replay_wall_s", "settle_s", "per_hub", "kill")


@pytest.mark.services
def test_multihub_benchmark_quick_run_reports_every_figure() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.multihub", "--quick"], capture_output=True, text=True, timeout=110
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "multihub" and "error" not in figures, figures
    assert figures["hubs"] == 3 and figures["scenarios"] == ["typhoon_flood"]

    runs = figures["scenario_runs"]["typhoon_flood"]["runs"]
    assert list(runs) == ["single", "single_again", "shared", "shared_kill"]
    for name, run in runs.items():
        assert all(k in run for k in RUN), name
        assert len(run["per_hub"]) == run["hubs"] == (1 if name.startswith("single") else 3), name
        assert run["settled"] is True, name

    # The reference: one hub stores every reading, raises alarms, and notifies each transition once.
    ref = runs["single"]
    assert figures["reference_transitions"]["typhoon_flood"] == ref["transitions"] > 0
    assert ref["readings_lost"] == 0 and ref["readings_stored"] == ref["readings"] > 0
    assert ref["notifications"] == ref["transitions"] and ref["redeliveries"] == 0 and ref["bad_signatures"] == 0

    # The second one-hub run and the multi-hub runs are compared with it, whatever the differences are today.
    for name in ("single_again", "shared", "shared_kill"):
        vs = runs[name]["vs_reference"]
        assert all(isinstance(vs[k], int) and vs[k] >= 0 for k in COMPARED), name
        assert sum(h["readings_received"] for h in runs[name]["per_hub"]) > 0, name
        assert set(figures["totals"][name]) >= {"transitions_missing", "duplicate_notifications", "readings_lost"}
    kill = runs["shared_kill"]["kill"]
    assert kill["hub"] == "hub2" and kill["down_s"] > 0 and kill["readings_written_before_kill"] > 0
    assert runs["shared"]["kill"] is None
