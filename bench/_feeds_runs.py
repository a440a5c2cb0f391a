"""The measured steps of bench.feeds, each through the code ``iocgw feeds import`` runs (hub.feeds.cli):
importing a file whole, rejecting a file with one bad row, refreshing ``unit_hazard``, and the command itself."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.feeds.formats import read_file
from hub.feeds.importers import ImportContext
from hub.feeds.importers import feedback as feedback_kind
from hub.feeds.importers import indicators as indicators_kind
from hub.feeds.importers import public_service as service_kind
from hub.feeds.merge import MEASUREMENT as MERGED
from hub.feeds.merge import HazardSettings, refresh
from hub.feeds.pipeline import run_import
from hub.feeds.sink import InfluxSink

# What each kind writes, and a field every one of its points has (to count them).
MEASUREMENTS = {
    "indicators": (indicators_kind.MEASUREMENT, "value"),
    "public_service": (service_kind.MEASUREMENT, "received"),
    "feedback": (feedback_kind.MEASUREMENT, "count"),
}
# The rejection files' periods and days are in 2150 (bench._feeds_data.REJECT_YEAR): anything after this is theirs.
REJECT_SINCE = "2100-01-01T00:00:00Z"


class BenchFailure(Exception):
    """A step did not do what the benchmark relies on (an import not taken whole, a point written when rejected)."""


def count(sink: InfluxSink, kind: str, where: str = "") -> int:
    measurement, field = MEASUREMENTS[kind]
    rows = sink.query(f'SELECT count("{field}") AS n FROM "{measurement}" {where}')
    return sum(int(r["n"]) for r in rows)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def import_file(path: Path, kind: str, ctx: ImportContext) -> dict[str, Any]:
    """Read and import one file all or nothing, as ``iocgw feeds import FILE`` does; then check InfluxDB holds
    every point the import reported (the database is fresh for each format, so its count is this import's)."""
    assert ctx.sink is not None
    before = count(ctx.sink, kind)
    wall0, cpu0 = _clock()
    doc = read_file(path)
    wall1, _ = _clock()
    report = run_import(doc, ctx, "auto", partial=False)
    wall2, cpu2 = _clock()
    if not report.ok or not report.committed or report.accepted != report.rows:
        raise BenchFailure(f"{path.name}: {report.summary()}; first rejections: {report.rejections[:3]}")
    stored = count(ctx.sink, kind) - before
    if stored != report.points:
        raise BenchFailure(f"{path.name}: {report.points} points reported, {stored} found in InfluxDB")
    seconds = wall2 - wall0
    return {
        "rows": report.rows,
        "points": report.points,
        "bytes": path.stat().st_size,
        "read_s": wall1 - wall0,
        "import_s": wall2 - wall1,
        "seconds": seconds,
        "rows_per_s": report.rows / seconds,
        "cpu_s": cpu2 - cpu0,
    }


@dataclass
class _Snapshot:
    points: int
    future_points: int
    feedback_records: int
    dead_letters: int
    imports: int


def _snapshot(kind: str, source: str, ctx: ImportContext) -> _Snapshot:
    assert ctx.sink is not None and ctx.state is not None
    conn = ctx.state.conn
    return _Snapshot(
        points=count(ctx.sink, kind),
        future_points=count(ctx.sink, kind, f"WHERE time >= '{REJECT_SINCE}'"),
        feedback_records=int(conn.execute("SELECT count(*) FROM feedback_records").fetchone()[0]),
        dead_letters=ctx.state.dead_letter_count(source),
        imports=len(ctx.state.imports()),
    )


def reject_file(path: Path, kind: str, ctx: ImportContext, bad_row: int) -> dict[str, Any]:
    """Import a file whose last row is bad (all or nothing): the time to refuse it, and the proof that nothing
    reached InfluxDB or the feedback records, and that the bad row was dead-lettered."""
    assert ctx.state is not None
    source = str(path)
    before = _snapshot(kind, source, ctx)
    wall0, cpu0 = _clock()
    report = run_import(read_file(path), ctx, "auto", partial=False)
    wall1, cpu1 = _clock()
    after = _snapshot(kind, source, ctx)
    last_import = ctx.state.imports()[-1]
    rows = [r.row for r in report.rejections]
    if report.committed or report.points or rows != [bad_row]:
        raise BenchFailure(f"{path.name}: expected only row {bad_row} rejected and nothing written: {report.summary()}")
    nothing_written = (
        after.points == before.points
        and after.future_points == 0
        and after.feedback_records == before.feedback_records
        and after.imports == before.imports + 1
        and not last_import["committed"]
    )
    return {
        "rows": report.rows,
        "seconds": wall1 - wall0,
        "cpu_s": cpu1 - cpu0,
        "rejected_row": rows[0],
        "reason": report.rejections[0].reason,
        "points_before": before.points,
        "points_after": after.points,
        "points_in_file_range": after.future_points,
        "dead_letters_added": after.dead_letters - before.dead_letters,
        "nothing_written": nothing_written,
    }


def refresh_view(ctx: ImportContext, settings: HazardSettings, runs: int) -> dict[str, Any]:
    """Rewrite ``unit_hazard`` ``runs`` times (what every import that wrote points ends with); check that the view
    has one row per current unit."""
    assert ctx.sink is not None
    times, written = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        written = refresh(ctx.sink, ctx.units, settings)
        times.append(time.perf_counter() - t0)
    rows = ctx.sink.query(
        f'SELECT last("hazard_level") AS h FROM "{MERGED}" WHERE time > now() - 1h GROUP BY "admin_code"'
    )
    if written != len(ctx.units.current) or len(rows) != written:
        raise BenchFailure(
            f"unit_hazard: {written} units written, {len(rows)} in the view, {len(ctx.units.current)} current units"
        )
    return {
        "units": written,
        "runs": runs,
        "first_s": times[0],
        "median_s": statistics.median(times),
        "max_s": max(times),
        "units_at_hazard": sum(1 for r in rows if (r.get("h") or 0) > 0),
    }


_TOTAL = re.compile(
    r"^total: (\d+) files, (\d+) rows, (\d+) accepted, (\d+) rejected, (\d+) files failed, (\d+) points"
)


def run_command(files: list[Path], config: Path, timeout: float) -> dict[str, Any]:
    """``iocgw feeds import FILE... --config`` as an operator runs it: a fresh interpreter, its imports, the reference,
    every file, and the unit_hazard refresh at the end."""
    cmd = [sys.executable, "-m", "iocgw", "feeds", "import", *map(str, files), "--config", str(config)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    total = next((m for m in map(_TOTAL.match, proc.stdout.splitlines()) if m), None)
    if proc.returncode != 0 or total is None:
        raise BenchFailure(f"iocgw feeds import exited {proc.returncode}: {(proc.stdout + proc.stderr)[-2000:]}")
    _, rows, accepted, rejected, failed, points = map(int, total.groups())
    if accepted != rows or rejected or failed:
        raise BenchFailure(f"iocgw feeds import: {total.group(0)}")
    return {
        "files": len(files),
        "rows": rows,
        "points": points,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "view_refreshed": "unit_hazard view refreshed" in proc.stderr,
    }
