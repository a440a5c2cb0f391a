"""Hubs' alert leadership in processes of their own, driven by tests/hub/alerts/test_leader.py.

    python -m tests.hub.alerts.leader_proc DSN HUB_ID

One candidate. Writes one line per event to stdout: ``started``; ``gained <epoch> <monotonic s>``; ``lost <epoch>
<monotonic s> <reason>``; ``belief <1|0> <monotonic s>`` each time ``is_leader`` changes (looked at every 50 ms, so
the lease running out shows too); ``state <1|0> <epoch|->`` (the answer to ``state``); ``stopped``. Reads commands
from stdin: ``state``, ``stop`` (a clean stop; end of input does the same). The times are CLOCK_MONOTONIC, one clock
for every process of the machine, so the test compares them with its own.

    unshare -n python -m tests.hub.alerts.leader_proc partition

A dead host, as far as PostgreSQL can tell: run as root in a network namespace of its own (A), it starts PostgreSQL
and a standby there (127.0.0.1), and a leader in a second namespace (B) joined to A by a veth pair only; once the
leader leads and the standby has asked for the lock, the pair's link goes down: from then on, nothing of the leader
reaches the server and the other way round, and no socket is closed. Prints one JSON line: the seconds from the cut
to the leader's ``is_leader`` turning false, to its ``on_loss``, and to the standby leading, and the epochs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from hub.alerts.leader import AlertLeadership


def candidate(dsn: str, hub_id: str) -> None:
    out = threading.Lock()

    def say(*words: object) -> None:
        with out:
            print(*words, flush=True)

    def gained(epoch: int) -> None:
        say("gained", epoch, time.monotonic())

    def lost(epoch: int, reason: str) -> None:
        say("lost", epoch, time.monotonic(), " ".join(reason.split()))

    leadership = AlertLeadership(dsn, hub_id, on_gain=gained, on_loss=lost)

    def watch() -> None:
        believed = False
        while True:
            leadership.wait_leading(not believed)
            believed = not believed
            say("belief", int(believed), time.monotonic())

    leadership.start()
    threading.Thread(target=watch, daemon=True).start()
    say("started")
    for line in sys.stdin:
        if line.strip() == "state":
            epoch = leadership.epoch
            say("state", int(leadership.is_leader), "-" if epoch is None else epoch)
        elif line.strip() == "stop":
            break
    leadership.stop()
    say("stopped")


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=10)


class _Lines:
    """A child candidate's stdout lines, read by a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[list[str]] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.split())
                self.cond.notify_all()

    def first(self, *words: str, timeout: float = 20.0) -> list[str]:
        with self.cond:
            found = self.cond.wait_for(
                lambda: next((w for w in self.lines if w[: len(words)] == list(words)), None), timeout
            )
        if found is None:
            raise SystemExit(f"no {' '.join(words)} line in {timeout} s: {self.lines}")
        return found


def partition() -> None:
    import psycopg

    from testkit.localsvc import PostgreSQL

    class ReachablePostgreSQL(PostgreSQL):
        def write_config(self) -> Path:
            data = super().write_config()
            with open(data / "pg_hba.conf", "a") as hba:  # initdb trusts the loopback addresses only
                hba.write("host all all 10.99.0.0/30 trust\n")
            return data

        def command(self, config: Path) -> list[str]:
            return [a.replace("listen_addresses=127.0.0.1", "listen_addresses=*") for a in super().command(config)]

    _sh("ip", "link", "set", "lo", "up")
    _sh("ip", "link", "add", "iocgw-a", "type", "veth", "peer", "name", "iocgw-b")
    _sh("ip", "addr", "add", "10.99.0.1/30", "dev", "iocgw-a")
    _sh("ip", "link", "set", "iocgw-a", "up")
    root = Path(tempfile.mkdtemp(prefix="iocgw-partition-"))
    pg = ReachablePostgreSQL(root / "postgresql")
    pg.start()
    procs: list[subprocess.Popen[str]] = []
    try:
        cmd = [sys.executable, "-m", "tests.hub.alerts.leader_proc"]
        far_dsn = pg.dsn.replace("@127.0.0.1:", "@10.99.0.1:")
        pipe = subprocess.PIPE
        far = subprocess.Popen(["unshare", "-n", *cmd, far_dsn, "hub-far"], stdin=pipe, stdout=pipe, text=True)
        procs.append(far)
        far_lines = _Lines(far)
        far_lines.first("started")  # unshare has made its namespace and exec'd: the pid is the candidate's
        _sh("ip", "link", "set", "iocgw-b", "netns", str(far.pid))
        ns = ["nsenter", "-t", str(far.pid), "-n", "ip"]
        _sh(*ns, "addr", "add", "10.99.0.2/30", "dev", "iocgw-b")
        _sh(*ns, "link", "set", "iocgw-b", "up")
        far_epoch = int(far_lines.first("gained")[1])

        near = subprocess.Popen([*cmd, pg.dsn, "hub-near"], stdin=pipe, stdout=pipe, text=True)
        procs.append(near)
        near_lines = _Lines(near)
        with psycopg.connect(pg.dsn, autocommit=True) as admin:
            deadline = time.monotonic() + 20
            while not admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'iocgw-leader:hub-near'"
                " AND query LIKE '%pg_try_advisory_lock%'"
            ).fetchone():
                if time.monotonic() > deadline:
                    raise SystemExit("the standby never asked for the lock")
                time.sleep(0.05)

        t0 = time.monotonic()
        _sh(*ns, "link", "set", "iocgw-b", "down")
        near_gained = near_lines.first("gained", timeout=30)
        belief_end = far_lines.first("belief", "0")
        far_lost = far_lines.first("lost")
        print(
            json.dumps(
                {
                    "far_epoch": far_epoch,
                    "near_epoch": int(near_gained[1]),
                    "far_belief_end_s": float(belief_end[2]) - t0,
                    "far_on_loss_s": float(far_lost[2]) - t0,
                    "near_leads_s": float(near_gained[2]) - t0,
                    "far_loss_reason": " ".join(far_lost[3:]),
                }
            ),
            flush=True,
        )
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        pg.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["partition"]:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        partition()
    else:
        candidate(sys.argv[1], sys.argv[2])
