"""The alert leader's periodic work in one thread: time-driven rules, escalations, completeness, forecasts.

On a single hub these run beside the ingest path (hub/service.py, hub/ingest/pipeline.py); in cluster mode only the
leader has an engine, so the leader runs them (hub/alerts/cluster.py), from its gain to its loss. One thread, each
job at its own period: they all go through the engine's lock anyway, and a slow one (an InfluxDB query) only
delays the others, as it would delay the writer thread on one hub.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    period_s: float
    work: Callable[[], object]
    first_after_s: float = 0.0  # 0: at once (completeness, forecasts, as on one hub); tick: one period in


class LeaderJobs:
    """``start()``; ``stop()`` waits for a job in progress to end (blocking). One use only."""

    def __init__(self, jobs: list[Job], name: str = "alert-leader-jobs") -> None:
        self.jobs = jobs
        self.runs: dict[str, int] = {j.name: 0 for j in jobs}
        self.failures: dict[str, int] = {j.name: 0 for j in jobs}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the leader's periodic jobs did not end within %s s", timeout)

    def _run(self) -> None:
        start = time.monotonic()
        due = {j.name: start + j.first_after_s for j in self.jobs}
        while not self._stop.is_set():
            now = time.monotonic()
            for job in self.jobs:
                if self._stop.is_set():
                    return
                if due[job.name] > now:
                    continue
                try:
                    job.work()
                    self.runs[job.name] += 1
                except Exception:  # InfluxDB away, a rule bug: logged, tried again at the next period
                    self.failures[job.name] += 1
                    log.exception("leader job %s failed; next try in %.0f s", job.name, job.period_s)
                due[job.name] = time.monotonic() + job.period_s
            wait = min(due.values()) - time.monotonic() if due else 1.0
            self._stop.wait(max(0.0, wait))
