"""Optional py-spy profile of a hub process during bench.ingest's hub run (--profile-hub)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench._report import log


def start_py_spy(path: str, pid: int | None, gil: bool = False) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if pid is None or not os.path.exists(exe):
        log("py-spy not found: no profile (pip install py-spy)")
        return None
    fmt = {".svg": "flamegraph", ".txt": "raw", ".json": "speedscope"}.get(Path(path).suffix, "raw")
    cmd = [exe, "record", "--pid", str(pid), "--output", path, "--format", fmt, "--rate", "100", "--threads"]
    if gil:
        cmd.append("--gil")
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(1.0)  # attach before the load starts
    return spy


def stop_py_spy(spy: subprocess.Popen[bytes]) -> None:
    # SIGINT is Ctrl-C to py-spy record: it stops sampling and writes the file.
    if spy.poll() is None:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(5)
