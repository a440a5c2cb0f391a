"""The feeds benchmark still runs end to end and checks what it claims (its timings are not judged here: they
belong in bench/ and docs/benchmarks.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

KINDS = ("indicators", "public_service", "feedback")
FORMATS = ("csv", "json", "xlsx")


@pytest.mark.services
def test_feeds_benchmark_quick_run_imports_whole_files_and_refuses_bad_ones() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.feeds", "--quick"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "feeds" and "error" not in figures
    rows = figures["rows_per_file"]
    assert rows == 500

    for kind in KINDS:
        for fmt in FORMATS:
            fig = figures["import"][kind][fmt]
            assert fig["rows"] == rows, (kind, fmt)
            assert fig["points"] >= rows if kind == "feedback" else fig["points"] == rows, (kind, fmt)
            assert fig["rows_per_s"] > 0 and fig["seconds"] > 0 and fig["bytes"] > 0, (kind, fmt)
    assert all(figures["rows_per_s_by_format"][fmt] > 0 for fmt in FORMATS)

    # The merged view covers every current unit of the reference (3 shipped + the synthetic communes + 34 provinces).
    assert figures["refresh_units"] == figures["units"] == 37 + figures["communes_added"]
    assert figures["refresh_runs"] >= 1 and 0 < figures["refresh_median_s"] <= figures["refresh_max_s"]

    # A file whose last row is bad: that row named, nothing written, the row dead-lettered.
    assert figures["reject_nothing_written"] is True and figures["reject_dead_lettered"] is True
    for kind in KINDS:
        rej = figures["reject"][kind]
        assert rej["rows"] == rows and rej["rejected_row"] == rows + 2, kind
        assert rej["points_after"] == rej["points_before"] > 0 and rej["points_in_file_range"] == 0, kind
        assert rej["seconds"] > 0 and rej["reason"], kind

    # The real command, timed from outside, imported the three CSV files and refreshed the view.
    assert figures["command_rows"] == 3 * rows and figures["command_rows_per_s"] > 0
    assert figures["command_view_refreshed"] is True
