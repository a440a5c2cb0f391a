"""Administrative feed benchmark: import throughput per kind and format, unit_hazard refresh, rejecting a bad file.

``iocgw bench feeds`` or ``python -m bench.feeds``. Progress goes to stderr; the last stdout line is one JSON object
of figures (docs/benchmarks.md, "Feeds"). Exit code 0 when every file was imported whole, every bad file was refused
without writing anything and the merged view covered every unit; 1 otherwise.

1. InfluxDB starts as a child process in a runtime folder (testkit.localsvc). The admin-unit reference is a copy of
   hub/feeds/data with ``--communes`` synthetic communes added (a province's real list is thousands of communes; the
   shipped sample has 3), so that a file of ``--rows`` rows is a year of monthly figures of many units rather than
   decades of a few.
2. Imports: for each format (CSV, JSON, XLSX) a fresh database and feeds.db; for each kind (indicators,
   public_service, feedback) one generated file is read and imported all or nothing with the functions
   ``iocgw feeds import`` calls (hub.feeds.formats.read_file, hub.feeds.pipeline.run_import, the context of
   hub.feeds.cli.make_context), and InfluxDB is checked to hold every point reported.
3. Merged view: alert-engine-shaped hazard points (``--hazard-points``) are written beside the CSV imports, then
   ``unit_hazard`` is refreshed ``--refresh-runs`` times (hub.feeds.merge.refresh).
4. Rejection: for each kind a CSV file of ``--rows`` rows whose last row is bad is imported: the time to refuse
   it, and proof that nothing was written (InfluxDB counts and feedback records unchanged, the bad row
   dead-lettered).
5. The command (unless --no-command): ``python -m iocgw feeds import`` of the three CSV files into a fresh
   database, timed from the outside: interpreter start and the unit_hazard refresh included.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import openpyxl
import yaml

from bench import _feeds_data as data
from bench._feeds_runs import import_file, refresh_view, reject_file, run_command
from bench._report import bench_main, quick_defaults, rnd, run_cli, runtime_folder
from hub.config import HubInflux
from hub.feeds.cli import make_context
from hub.feeds.config import FeedsConfig
from hub.feeds.importers import ImportContext
from hub.feeds.units import load_units
from testkit.localsvc import InfluxDB

# Generous: a 20,000-row import is one request of up to ~80,000 lines, on a shared machine.
INFLUX_TIMEOUT_S = 60.0


def log(msg: str) -> None:
    # stderr, flushed: stdout is kept for the one JSON line a caller parses.
    print(f"[bench.feeds {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rows", type=int, default=None, help="rows per file (default 20000; --quick: 500)")
    p.add_argument(
        "--communes",
        type=int,
        default=None,
        help="synthetic communes added to the reference (default 3321, the 2025 count; --quick: 100; 0: as shipped)",
    )
    p.add_argument("--kinds", nargs="+", choices=data.KINDS, default=list(data.KINDS), help="feed kinds (all)")
    p.add_argument("--formats", nargs="+", choices=data.FORMATS, default=list(data.FORMATS), help="formats (all)")
    p.add_argument(
        "--hazard-points", type=int, default=None, help="alert-engine points beside the view (default 20000)"
    )
    p.add_argument("--refresh-runs", type=int, default=None, help="unit_hazard refreshes timed (default 3)")
    p.add_argument("--no-command", dest="command", action="store_false", help="skip the timed iocgw feeds import")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated rows (default 1)")
    p.add_argument("--quick", action="store_true", help="small smoke-test run (500 rows per file)")
    p.add_argument("--runtime", default=None, help="folder for InfluxDB, files and feeds.db (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the temp runtime folder")


def _resolve(args: argparse.Namespace) -> argparse.Namespace:
    """A copy of the arguments with the --quick-dependent defaults filled in, checked."""
    a = quick_defaults(
        args, rows=(500, 20_000), communes=(100, 3321), hazard_points=(1000, 20_000), refresh_runs=(2, 3)
    )
    if not 2 <= a.rows <= 200_000:
        raise ValueError("--rows must be 2 to 200000 (a file holds at most 200,000 rows)")
    if a.refresh_runs < 1 or a.hazard_points < 0:
        raise ValueError("--refresh-runs must be at least 1 and --hazard-points at least 0")
    a.kinds = list(dict.fromkeys(a.kinds))
    a.formats = list(dict.fromkeys(a.formats))
    return a


def _influxd_version(influx: InfluxDB) -> str:
    try:
        out = subprocess.run([influx.executable(), "version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    words = (out.stdout + out.stderr).split()
    return next((w.lstrip("v") for w in words if w.startswith("v") and w[1:2].isdigit()), "unknown")


def _config(influx: InfluxDB, work: Path, reference: Path, name: str) -> FeedsConfig:
    influx_settings = HubInflux(url=influx.url, database=f"feeds_{name}", timeout_s=INFLUX_TIMEOUT_S)
    return FeedsConfig(influx=influx_settings, data_dir=work / f"data-{name}", reference_dir=reference)


def _close(ctx: ImportContext) -> None:
    if ctx.sink is not None:
        ctx.sink.close()
    if ctx.state is not None:
        ctx.state.close()


def _files(a: argparse.Namespace, work: Path, units: Any) -> tuple[dict[tuple[str, str], Path], dict[str, Path]]:
    """The import files (kind, format) and the rejection files (kind, CSV), written before any clock starts."""
    folder = work / "files"
    folder.mkdir()
    imports: dict[tuple[str, str], Path] = {}
    rejects: dict[str, Path] = {}
    for kind in a.kinds:
        for fmt in a.formats:
            records = data.rows(kind, units, a.rows, a.seed, prefix=f"BENCH-{fmt.upper()}")
            imports[(kind, fmt)] = data.write(folder / f"{kind}.{fmt}", kind, records)
        records = data.rows(kind, units, a.rows, a.seed + 1, prefix="REJECT", reject=True)
        rejects[kind] = data.write(folder / f"reject-{kind}.csv", kind, records)
    return imports, rejects


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start InfluxDB, run every step, stop it; the figures."""
    a = _resolve(args)
    # A failed run's files and feeds.db explain it as much as InfluxDB's log does.
    with runtime_folder(a, "feeds", kept="files and logs") as folder:
        work = folder.work
        influx = InfluxDB(work / "influxdb")
        try:
            reference = data.extended_reference(work / "reference", a.communes)
            units = load_units(reference)
            t0 = time.perf_counter()
            imports, rejects = _files(a, work, units)
            log(
                f"{len(units.current)} current units; {len(imports) + len(rejects)} files of {a.rows} rows written "
                f"in {time.perf_counter() - t0:.1f} s"
            )
            influx.start()
            result = _measure(a, work, influx, reference, imports, rejects)
            result["influxdb"] = _influxd_version(influx)
            result["units"] = len(units.current)
        finally:
            influx.stop()
    return _figures(a, result)


def _measure(
    a: argparse.Namespace,
    work: Path,
    influx: InfluxDB,
    reference: Path,
    imports: dict[tuple[str, str], Path],
    rejects: dict[str, Path],
) -> dict[str, Any]:
    out: dict[str, Any] = {"import": {k: {} for k in a.kinds}, "reject": {}, "refresh": None, "command": None}
    first = a.formats[0]
    for fmt in a.formats:
        config = _config(influx, work, reference, fmt)
        ctx = make_context(config)
        try:
            for kind in a.kinds:
                fig = import_file(imports[(kind, fmt)], kind, ctx)
                out["import"][kind][fmt] = fig
                log(
                    f"{kind}.{fmt}: {fig['rows']} rows, {fig['points']} points in {fig['seconds']:.2f} s "
                    f"(read {fig['read_s']:.2f} s, check+write {fig['import_s']:.2f} s): {fig['rows_per_s']:.0f} rows/s"
                )
            if fmt == first:
                out["refresh"] = _refresh(a, ctx, config)
                for kind in a.kinds:
                    bad_row = a.rows + 2  # the preamble and the header come first in a CSV file
                    fig = reject_file(rejects[kind], kind, ctx, bad_row)
                    out["reject"][kind] = fig
                    log(
                        f"reject-{kind}.csv: refused in {fig['seconds']:.2f} s (row {fig['rejected_row']}: "
                        f"{fig['reason']}); points {fig['points_before']} -> {fig['points_after']}, "
                        f"nothing written: {fig['nothing_written']}"
                    )
        finally:
            _close(ctx)
    if a.command:
        out["command"] = _command(a, work, influx, reference, imports)
    return out


def _refresh(a: argparse.Namespace, ctx: ImportContext, config: FeedsConfig) -> dict[str, Any]:
    assert ctx.sink is not None
    if a.hazard_points:
        ctx.sink.write(data.hazard_lines(ctx.units, a.hazard_points, int(time.time() * 1000)))
    fig = refresh_view(ctx, config.hazard, a.refresh_runs)
    log(
        f"unit_hazard: {fig['units']} units ({fig['units_at_hazard']} at a hazard) over {a.hazard_points} hazard "
        f"points: median {fig['median_s']:.3f} s, max {fig['max_s']:.3f} s in {fig['runs']} refreshes"
    )
    return fig


def _command(
    a: argparse.Namespace, work: Path, influx: InfluxDB, reference: Path, imports: dict[tuple[str, str], Path]
) -> dict[str, Any]:
    fmt = "csv" if "csv" in a.formats else a.formats[0]
    config = _config(influx, work, reference, "command")
    path = work / "feeds-command.yaml"
    body = config.model_dump(mode="json", include={"data_dir", "reference_dir", "influx"}, exclude_none=True)
    path.write_text(yaml.safe_dump(body, allow_unicode=True))
    files = [imports[(kind, fmt)] for kind in a.kinds]
    fig = run_command(files, path, timeout=600)
    log(f"iocgw feeds import of {len(files)} {fmt} files: {fig['rows']} rows in {fig['seconds']:.2f} s")
    return fig


def _by_format(imports: dict[str, dict[str, dict[str, Any]]], fmt: str) -> float | None:
    figs = [per_fmt[fmt] for per_fmt in imports.values() if fmt in per_fmt]
    seconds = sum(f["seconds"] for f in figs)
    return sum(f["rows"] for f in figs) / seconds if seconds else None


def _figures(a: argparse.Namespace, r: dict[str, Any]) -> dict[str, Any]:
    """The JSON object: rounded figures, the run's shape and the machine."""
    rounding = {"read_s": 3, "import_s": 3, "seconds": 3, "rows_per_s": 0, "cpu_s": 3}
    imports = {
        kind: {
            fmt: {k: rnd(v, rounding[k]) if k in rounding else v for k, v in fig.items()} for fmt, fig in per.items()
        }
        for kind, per in r["import"].items()
    }
    reject = {
        kind: {k: rnd(v, 3) if k in ("seconds", "cpu_s") else v for k, v in fig.items()}
        for kind, fig in r["reject"].items()
    }
    refresh = r["refresh"]
    command = r["command"]
    return {
        "bench": "feeds",
        "rows_per_file": a.rows,
        "kinds": a.kinds,
        "formats": a.formats,
        "communes_added": a.communes,
        "units": r["units"],
        "rows_per_s_by_format": {fmt: rnd(_by_format(r["import"], fmt), 0) for fmt in a.formats},
        "import": imports,
        "refresh_units": refresh["units"],
        "refresh_units_at_hazard": refresh["units_at_hazard"],
        "refresh_hazard_points": a.hazard_points,
        "refresh_runs": refresh["runs"],
        "refresh_first_s": rnd(refresh["first_s"], 3),
        "refresh_median_s": rnd(refresh["median_s"], 3),
        "refresh_max_s": rnd(refresh["max_s"], 3),
        "reject": reject,
        "reject_nothing_written": all(f["nothing_written"] for f in r["reject"].values()),
        "reject_dead_lettered": all(f["dead_letters_added"] == 1 for f in r["reject"].values()),
        "command_files": command["files"] if command else None,
        "command_rows": command["rows"] if command else None,
        "command_seconds": rnd(command["seconds"], 2) if command else None,
        "command_rows_per_s": rnd(command["rows_per_s"], 0) if command else None,
        "command_view_refreshed": command["view_refreshed"] if command else None,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "openpyxl": openpyxl.__version__,
        "influxdb": r["influxdb"],
    }


def _succeeded(fig: dict[str, Any]) -> bool:
    return fig["reject_nothing_written"] and fig["reject_dead_lettered"] and fig["command_view_refreshed"] is not False


def main(args: argparse.Namespace) -> int:
    """Run the benchmark; print one JSON line last on stdout. 0 when every check held, 1 otherwise."""
    return bench_main("feeds", run, args, _succeeded)


if __name__ == "__main__":
    sys.exit(run_cli("feeds", __doc__, add_arguments, main))
