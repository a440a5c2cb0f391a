"""The hub processes of bench.ingest (testkit.hubproc.HubProcess): configs, start, stop, metrics, CPU, memory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench._cpu import group_peak_rss_mb
from bench._report import log
from testkit.hubproc import HubProcess
from testkit.localsvc import InfluxDB, Mosquitto


class Hubs:
    """One hub child process, or several sharing the load through an MQTT v5 shared subscription."""

    def __init__(self, a: argparse.Namespace, work: Path, broker: Mosquitto, influx: InfluxDB, db: str) -> None:
        self.children: list[HubProcess] = []
        for i in range(a.hubs):
            # HubProcess fills in a free http.port and data_dir = <folder>/data.
            config: dict[str, Any] = {
                "mqtt": {
                    "host": "127.0.0.1",
                    "port": broker.port,
                    "client_id": f"iocgw-bench-hub-{i + 1}",
                    "receive_maximum": a.receive_maximum,
                },
                "influx": {"url": influx.url, "database": db},
                "batch": {"max_lines": a.batch_lines, "max_delay_s": a.batch_delay},
                "registry": {"accept_unknown_nodes": True},
                "http": {"host": "127.0.0.1"},
            }
            if a.hubs > 1:
                config["mqtt"]["shared_group"] = "bench"
            self.children.append(HubProcess(work / ("hub" if a.hubs == 1 else f"hub{i + 1}"), config))

    @property
    def logs(self) -> str:
        return ", ".join(str(c.log) for c in self.children)

    @property
    def pids(self) -> list[int | None]:
        return [c.pid for c in self.children]

    def start(self) -> None:
        for c in self.children:
            c.start()

    def stop(self) -> None:
        for c in self.children:
            try:
                rc = c.stop()
            except Exception as exc:
                log(f"stopping a hub failed: {exc!r}")
                continue
            if rc != 0:  # -9: it did not end in time after SIGTERM and was killed
                log(f"hub exited with {rc}; see {c.log}")

    def metrics(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for c in self.children:
            for k, v in c.metrics().items():
                total[k] = total.get(k, 0.0) + v
        return total

    def peak_rss_mb(self) -> float | None:
        """Sum over the hub processes of each one's peak resident set (VmHWM)."""
        return group_peak_rss_mb(self.pids)
