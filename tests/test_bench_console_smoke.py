"""The console benchmark runs end to end on a small province and writes its screenshots (its figures are judged in
bench/, not here: timing never belongs in a test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.browser import CHROMIUM, MISSING


@pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)
def test_console_benchmark_measures_every_view_and_the_push(tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    small = ["--stations", "24", "--alarmed", "6", "--cameras", "3", "--fires", "1"]
    once = ["--loads", "1", "--updates", "1", "--pushes", "1", "--screenshots", str(shots)]
    proc = subprocess.run(
        [sys.executable, "-m", "bench.console", *small, *once], capture_output=True, text=True, timeout=300
    )
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in figures, proc.stderr[-3000:]
    # 6 stations over a BĐ level and one camera fire: 7 alarms, each a row of the alarms view when it was timed.
    assert figures["active_alarms"] == 7 and figures["nodes"] == 27
    assert set(figures["views"]) == {"alerts", "rivers", "river_chart", "map", "cameras", "camera", "nodes"}
    for view in figures["views"].values():
        assert view["fmp_ms"]["max"] > 0 and view["update_ms"]["max"] > 0 and view["transfer_kb"] > 0
    assert figures["push_ms"]["n"] == 1 and figures["push_ms"]["max"] > 0
    names = sorted(Path(p).name for p in figures["screenshots"])
    assert len(names) == 15 and "console-map-phone.png" in names
    assert all((shots / n).read_bytes().startswith(b"\x89PNG") for n in names)
