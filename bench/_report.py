"""What the benchmarks print: progress lines on stderr and the one JSON object of figures (docs/benchmarks.md);
and what every benchmark's command line shares: --quick defaults, the runtime folder, the run wrapped in
``bench_main``."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def log(msg: str, name: str = "ingest") -> None:
    # stderr, flushed: stdout is kept for the one JSON line a caller parses.
    print(f"[bench.{name} {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def rnd(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


def _cores(run: dict[str, Any] | None) -> dict[str, float | None] | None:
    return {k: rnd(v, 2) for k, v in run["cpu_cores"].items()} if run else None


def figures(
    a: argparse.Namespace, ceiling: dict[str, Any] | None, hub: dict[str, Any], versions: dict[str, str]
) -> dict[str, Any]:
    """The JSON object of one benchmark: the runs' results rounded, with the load's shape and the machine."""
    ratio = hub["readings_per_s"] / ceiling["readings_per_s"] if ceiling else None
    backlog = hub["backlog"]
    return {
        "bench": "ingest",
        "nodes": a.nodes,
        "messages": a.messages,
        "readings_per_message": a.readings_per_message,
        "readings": a.messages * a.readings_per_message,
        "publishers": a.publishers,
        "hubs": a.hubs,
        "ceiling_readings_per_s": rnd(ceiling["readings_per_s"], 0) if ceiling else None,
        "hub_readings_per_s": rnd(hub["readings_per_s"], 0),
        "ratio_to_ceiling": rnd(ratio, 3),
        "latency_p50_ms": rnd(hub["latency_p50_ms"]),
        "latency_p99_ms": rnd(hub["latency_p99_ms"]),
        "latency_idle_p50_ms": rnd(hub["latency_idle_p50_ms"]),
        "latency_idle_p99_ms": rnd(hub["latency_idle_p99_ms"]),
        "probes": hub["probes"],
        "probes_missing": hub["probes_missing"],
        "lost": hub["lost"],
        "duplicates": hub["duplicates"],
        "dead_letters": hub["dead_letters"],
        "influx_errors": hub["influx_errors"],
        "hub_peak_rss_mb": rnd(hub["peak_rss_mb"]),
        "hub_seconds": rnd(hub["seconds"], 2),
        "ceiling_seconds": rnd(ceiling["seconds"], 2) if ceiling else None,
        "publish_readings_per_s": rnd(hub["publish_readings_per_s"], 0),
        "cpu_cores_ceiling": _cores(ceiling),
        "cpu_cores_hub_run": _cores(hub),
        "backlog_readings_per_s": rnd(backlog["readings_per_s"], 0) if backlog else None,
        "backlog_lost": backlog["lost"] if backlog else None,
        "backlog_seconds": rnd(backlog["seconds"], 2) if backlog else None,
        "cpu_cores_backlog_run": _cores(backlog),
        "cores": os.cpu_count(),
        **versions,
    }


def bench_main(
    name: str,
    run: Callable[[argparse.Namespace], dict[str, Any]],
    args: argparse.Namespace,
    succeeded: Callable[[dict[str, Any]], bool] = lambda result: True,
    error_fields: dict[str, Any] | None = None,
) -> int:
    """Run one benchmark and print its one JSON line last on stdout: the figures, or the error.

    Exit code 0 when ``succeeded(figures)``, 1 otherwise or on failure. SIGTERM unwinds through every ``finally``
    so child processes are stopped and the folders kept.
    """

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        result = run(args)
        code = 0 if succeeded(result) else 1
    except Exception as exc:
        log(f"failed: {type(exc).__name__}: {exc}", name)
        result, code = {"bench": name, **(error_fields or {}), "error": f"{type(exc).__name__}: {exc}"}, 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(json.dumps(result), flush=True)
    return code


def quick_defaults(args: argparse.Namespace, **defaults: tuple[Any, Any]) -> argparse.Namespace:
    """A copy of the arguments with each one left None set to its (--quick value, full value) default."""
    a = argparse.Namespace(**vars(args))
    for name, (quick, full) in defaults.items():
        if getattr(a, name) is None:
            setattr(a, name, quick if a.quick else full)
    return a


def require_at_least_one(a: argparse.Namespace, *names: str) -> None:
    for name in names:
        if getattr(a, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")


@dataclass
class RuntimeFolder:
    work: Path
    failed: bool = False  # set by a run that finished but failed its checks: its logs are kept too


@contextmanager
def runtime_folder(
    a: argparse.Namespace, name: str, stem: str | None = None, temp_prefix: str = "iocgw-bench-", kept: str = "logs"
) -> Iterator[RuntimeFolder]:
    """A fresh work folder in ``--runtime`` (default: a temp dir), removed afterwards unless ``--keep`` was given.

    A failed run keeps its folder: the services' logs are what explain it.
    """
    temp = a.runtime is None
    root = Path(a.runtime) if a.runtime else Path(tempfile.mkdtemp(prefix=temp_prefix))
    folder = RuntimeFolder(root / f"{stem or name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    folder.work.mkdir(parents=True, exist_ok=True)
    log(f"runtime folder {folder.work}", name)
    try:
        yield folder
    except BaseException:  # SIGTERM arrives as KeyboardInterrupt: its folder is kept as well
        folder.failed = True
        raise
    finally:
        if folder.failed:
            log(f"{kept} kept in {folder.work}", name)
        elif temp and not a.keep:
            shutil.rmtree(root, ignore_errors=True)


def run_cli(
    name: str,
    description: str | None,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    main: Callable[[argparse.Namespace], int],
) -> int:
    """``python -m bench.<name>``: the benchmark's own options, parsed from sys.argv, run by its ``main``."""
    p = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=description)
    add_arguments(p)
    return main(p.parse_args())
