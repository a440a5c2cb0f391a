"""A hub run as a real child process (so tests can SIGKILL it), and edge agents run in a thread of their own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import yaml

from edge.agent import Agent
from edge.config import NodeConfig
from iocgw.localsvc import free_port
from tests.support.wait import wait_until


class HubProcess:
    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        config.setdefault("http", {}).setdefault("port", free_port())
        config.setdefault("data_dir", str(workdir / "data"))
        self.config = config
        self.http_port = config["http"]["port"]
        self.config_path = workdir / "hub.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "hub.log"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "iocgw", "hub", "run", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        wait_until(self.healthy, timeout=30, what=f"hub /healthz (log: {self.log})")

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"hub exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.rsplit(" ", 1)
                out[name.removeprefix("iocgw_hub_").removesuffix("_total")] = float(value)
        return out

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as r:
            return json.loads(r.read())

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(60)
        self.proc = None
        return rc

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class AgentThread:
    """An edge Agent on its own event loop, driven from the test thread."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.agent: Agent | None = None
        self._stop: asyncio.Event | None = None
        self._done: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def body() -> None:
            self.agent = Agent(self.config)
            self._stop = asyncio.Event()
            await self.agent.run(self._stop)

        try:
            self.loop.run_until_complete(body())
            self._done.set_result(None)
        except BaseException as exc:
            self._done.set_exception(exc)

    def start(self) -> AgentThread:
        self._thread.start()
        wait_until(lambda: self.agent is not None and self._stop is not None, timeout=10, what="agent start")
        return self

    def call(self, fn: Callable[[Agent], Any]) -> Any:
        """Run ``fn(agent)`` on the agent's loop (the outbox is single-threaded) and return its result."""
        assert self.agent is not None
        agent = self.agent

        async def run() -> Any:
            return fn(agent)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def stop(self) -> None:
        if self._stop is not None and not self._done.done():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._done.result(30)
