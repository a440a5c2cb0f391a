"""The hub run as a child process (`python -m iocgw hub run`), for tests and benchmarks that must kill it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from testkit.localsvc import free_port

REPO = Path(__file__).resolve().parents[1]


class HubProcess:
    """Writes ``config`` to ``workdir/hub.yaml`` (filling in a free HTTP port and a data dir) and runs the hub."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        config.setdefault("http", {}).setdefault("port", free_port())
        config.setdefault("data_dir", str(self.workdir / "data"))
        self.config = config
        self.http_port = int(config["http"]["port"])
        self.config_path = self.workdir / "hub.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log = self.workdir / "hub.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait until /healthz answers 200; raise with the log's tail if it exits or never does."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "iocgw", "hub", "run", "--config", str(self.config_path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"hub /healthz not 200 after {timeout} s:\n{self._log_tail()}")
            time.sleep(0.05)

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self._log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def get_json(self, path: str, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", headers=headers)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def metrics(self) -> dict[str, float]:
        """/metrics as ``{name: value}``, without the ``iocgw_hub_`` prefix, ``_total`` suffix and histograms."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.rsplit(" ", 1)
                out[name.removeprefix("iocgw_hub_").removesuffix("_total")] = float(value)
        return out

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (the hub flushes what it holds), SIGKILL if it does not end in time; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill(self) -> None:
        """SIGKILL: a crash or power cut."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
