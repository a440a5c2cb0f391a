"""The hub processes of bench.ingest (testkit.hubproc.HubProcess): configs, start, stop, metrics, CPU, memory;
and, with --cluster, the cluster's PostgreSQL database, its leader and what the leader's feed did (ClusterRun)."""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench._cpu import group_peak_rss_mb, proc_stat
from bench._load import NODE_PREFIX
from bench._multihub_cluster import SCHEMA, ClusterDB
from bench._report import log, rnd
from testkit.hubproc import HubProcess
from testkit.localsvc import InfluxDB, Mosquitto, PostgreSQL

# The hubs read the DSN from the environment (alerts.cluster.dsn: {env: ...}); a DSN is never written to a config.
CLUSTER_PG_ENV = "IOCGW_BENCH_INGEST_PG_DSN"
SOURCE_CLIENT_ID = "iocgw-alerts"  # alerts.cluster.source_client_id's default, <mqtt.prefix>-alerts
POLL_S = 0.025  # the leader's progress and the hubs' CPU are sampled this often: the lag's resolution
STALL_S = 30.0  # at the end, the wait for the leader gives up after this long without progress


@dataclass(frozen=True)
class _Sample:
    t: float  # time.monotonic()
    hub_cpu: tuple[float | None, ...]  # CPU seconds so far of each hub process
    pg_cpu: float  # of the PostgreSQL processes found when sampling began
    evaluated: int  # messages of the load the leader has committed: the sum of iocgw_alerts.node_seq over its nodes


def _children(pid: int) -> list[int]:
    """Every process whose parent is ``pid`` (PostgreSQL's backends and auxiliary processes), from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                out.append(int(entry.name))
    return out


class ClusterRun:
    """--cluster: one PostgreSQL database for the run's hubs, and a sampler thread that watches the leader.

    The leader's feed commits each batch with the nodes' highest sequence numbers (``iocgw_alerts.node_seq``, after
    quality control and the engine, before writing the flag lines to InfluxDB and acknowledging). The load numbers
    each node's messages 1..n, so the leader has evaluated every message once the sum of the load nodes' sequences
    equals the number of messages: that moment, sampled every ``POLL_S``, is the leader's end. The same sampler
    reads each hub's CPU seconds and PostgreSQL's, so the CPU of each process can be cut to the run's window.
    """

    def __init__(self, pg: PostgreSQL, messages: int) -> None:
        self.pg = pg
        self.messages = messages
        self.db = ClusterDB(pg, "bench_ingest")
        self.samples: list[_Sample] = []
        self.done_at: float | None = None  # first sample at which the leader had committed every load message
        self.leader: str | None = None
        self.leader_index: int | None = None
        self.per_hub: list[dict[str, float]] = []  # each hub's /metrics after the hub run (Hubs.metrics)
        self.pg_pids: list[int] = []
        self._pids: list[int | None] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: str | None = None

    def alerts_section(self) -> dict[str, Any]:
        # No rule tables: the engine watches nothing, so the leader's feed does what it does for every message of a
        # cluster (decode, dedupe, quality control, the commit with the flag lines, the InfluxDB write, the ack);
        # rules would add their own evaluation on top. Freshness off: no tick finds stale sensors mid-run.
        return {"freshness": {"enabled": False}, "cluster": {"dsn": {"env": CLUSTER_PG_ENV}}}

    def close(self) -> None:
        self.db.close()

    # -- start: a leader with its feed subscribed, then the sampler ----------------------------------------------
    def wait_for_leader(self, hubs: list[HubProcess], timeout: float = 60.0) -> None:
        """Until one hub holds the lock and its feed is subscribed: the load must not start before the leader's
        session exists, or the broker would keep nothing for it."""
        ids = [h.config["mqtt"]["client_id"] for h in hubs]
        deadline = time.monotonic() + timeout
        while True:
            leader = self.db.leader()
            if leader is not None and leader.holds_lock and leader.holder in ids:
                hub = hubs[ids.index(leader.holder)]
                if f"alert source {SOURCE_CLIENT_ID} subscribed" in hub.log.read_text(errors="replace"):
                    self.leader, self.leader_index = leader.holder, ids.index(leader.holder)
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no leader with its feed subscribed after {timeout} s (leader row: {leader})")
            time.sleep(0.1)
        log(f"cluster: {self.leader} leads, its feed subscribed")
        self._pids = [h.pid for h in hubs]
        postmaster = self.pg.proc.pid if self.pg.proc is not None else None
        self.pg_pids = [postmaster, *_children(postmaster)] if postmaster is not None else []
        self._thread = threading.Thread(target=self._sample_loop, name="cluster-sampler", daemon=True)
        self._thread.start()

    def _evaluated(self) -> int:
        try:
            row = self.db.conn.execute(
                f"SELECT coalesce(sum(seq), 0) FROM {SCHEMA}.node_seq WHERE node_id LIKE %s", (NODE_PREFIX + "%",)
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
        return int(row[0]) if row else 0

    def _sample(self) -> _Sample:
        hub_cpu = tuple((s[0] if (s := proc_stat(p)) is not None else None) for p in self._pids)
        pg_cpu = sum(s[0] for p in self.pg_pids if (s := proc_stat(p)) is not None)
        return _Sample(time.monotonic(), hub_cpu, pg_cpu, self._evaluated())

    def _sample_loop(self) -> None:
        try:
            while not self._stop.is_set():
                s = self._sample()
                self.samples.append(s)
                if self.done_at is None and s.evaluated >= self.messages:
                    self.done_at = s.t
                self._stop.wait(POLL_S)
        except Exception as exc:  # recorded, not raised: the ingest figures of the run still count
            self._error = f"{type(exc).__name__}: {exc}"
            log(f"cluster sampler failed: {self._error}")

    # -- end: wait for the leader, stop the sampler -----------------------------------------------------------
    def finish(self, timeout: float) -> None:
        """Wait until the leader has evaluated every message (or stalls), then stop sampling."""
        if self._thread is None:
            return
        deadline = time.monotonic() + timeout
        last, last_change = -1, time.monotonic()
        while self.done_at is None and self._thread.is_alive() and time.monotonic() < deadline:
            n = self.samples[-1].evaluated if self.samples else 0
            if n != last:
                last, last_change = n, time.monotonic()
            elif time.monotonic() - last_change > STALL_S:
                log(f"cluster: the leader stalled at {n} of {self.messages} messages")
                break
            time.sleep(0.1)
        time.sleep(2 * POLL_S)  # one more sample past the end, for the CPU window's end
        self._stop.set()
        self._thread.join(5)
        self._thread = None

    # -- figures -----------------------------------------------------------------------------------------------
    def figures(self, a: argparse.Namespace, hub: dict[str, Any], timings_dir: Path) -> dict[str, Any]:
        """The leader, its lag and feed rate, each process's CPU over the load (docs/benchmarks.md)."""
        timings = [json.loads(p.read_text()) for p in sorted(timings_dir.glob("publisher-*.json"))]
        if len(timings) != a.publishers:
            raise RuntimeError(f"{len(timings)} of {a.publishers} publisher timing files in {timings_dir}")
        first_publish = min(t["first_publish"] for t in timings)
        last_ack = max(t["last_ack"] for t in timings)
        readings = a.messages * a.readings_per_message
        ingest_end = first_publish + hub["seconds"]  # bench._runs: the InfluxDB count reached the total
        done = self.done_at
        evaluated = self.samples[-1].evaluated if self.samples else 0
        out: dict[str, Any] = {
            "leader": self.leader,
            "leader_hub": None if self.leader_index is None else self.leader_index + 1,
            "leader_evaluated_messages": evaluated,
            "leader_done": done is not None,
            "load_seconds": rnd(last_ack - first_publish, 2),  # first publish to the last PUBACK
            "ingest_lag_after_load_s": rnd(ingest_end - last_ack, 2),
            "leader_lag_after_load_s": rnd(done - last_ack, 2) if done is not None else None,
            "leader_lag_after_ingest_s": rnd(done - ingest_end, 2) if done is not None else None,
            "leader_readings_per_s": rnd(readings / (done - first_publish), 0) if done is not None else None,
            "lag_resolution_s": POLL_S,
            "sampler_error": self._error,
            **self.db.pending(),
        }
        # Once the ingest was through, the leader worked on alone: its rate and CPU then say whether its feed is
        # bound by its own CPU (one core at most: the GIL) or by waiting (PostgreSQL's commit, the InfluxDB write).
        at_ingest_end = [s for s in self.samples if s.t <= ingest_end]
        at_done = [s for s in self.samples if done is not None and s.t >= done]
        if at_ingest_end and at_done and self.leader_index is not None:
            a0, a1 = at_ingest_end[-1], at_done[0]
            span = a1.t - a0.t
            c0, c1 = a0.hub_cpu[self.leader_index], a1.hub_cpu[self.leader_index]
            out["leader_behind_at_ingest_end_messages"] = self.messages - a0.evaluated
            if span > 0:
                out["leader_alone"] = {
                    "seconds": rnd(span, 2),
                    "readings_per_s": rnd((a1.evaluated - a0.evaluated) * a.readings_per_message / span, 0),
                    "leader_cores": rnd((c1 - c0) / span, 2) if c0 is not None and c1 is not None else None,
                    "postgres_cores": rnd((a1.pg_cpu - a0.pg_cpu) / span, 2),
                }
        # The CPU window: from the first publish until both the ingest and the leader were through; each hub's
        # CPU seconds in it (the probes and idle ticks in it are small), its readings from its own /metrics.
        end = max(done if done is not None else ingest_end, ingest_end)
        before = [s for s in self.samples if s.t <= first_publish]
        after = [s for s in self.samples if s.t >= end]
        if not before or not after:
            out["cpu"] = None
            return out
        s0, s1 = before[-1], after[0]
        window = s1.t - s0.t
        cpu = [
            c1 - c0 if c0 is not None and c1 is not None else None
            for c0, c1 in zip(s0.hub_cpu, s1.hub_cpu, strict=True)
        ]
        got = [
            int(self.per_hub[i].get("readings_received", 0.0)) if i < len(self.per_hub) else 0 for i in range(len(cpu))
        ]
        hubs = [
            {
                "hub": i + 1,
                "leader": i == self.leader_index,
                "cpu_s": rnd(c, 2),
                "cores": rnd(c / window, 2) if c is not None else None,
                "readings_ingested": n,
                # Per reading it ingested; the leader's includes its whole feed (every reading of the load).
                "cpu_us_per_ingested_reading": rnd(c / n * 1e6, 1) if c is not None and n else None,
            }
            for i, (c, n) in enumerate(zip(cpu, got, strict=True))
        ]
        total = sum(c for c in cpu if c is not None)
        lead_cpu = cpu[self.leader_index] if self.leader_index is not None else None
        pg_s = s1.pg_cpu - s0.pg_cpu
        out["cpu"] = {
            "window_s": rnd(window, 2),
            "hubs": hubs,
            "leader_share_of_hub_cpu": rnd(lead_cpu / total, 3) if lead_cpu is not None and total else None,
            "postgres_cores": rnd(pg_s / window, 2),
            "postgres_cpu_us_per_reading": rnd(pg_s / readings * 1e6, 1),
        }
        # The leader's feed alone, per reading of the load: the leader's CPU less its own share of the ingest at the
        # ingest-only hubs' cost per reading. Derived; needs at least one ingest-only hub.
        others = [
            (c, n) for i, (c, n) in enumerate(zip(cpu, got, strict=True)) if i != self.leader_index and c is not None
        ]
        ingested = sum(n for _, n in others)
        if ingested and lead_cpu is not None and self.leader_index is not None:
            ingest_s_per_reading = sum(c for c, _ in others) / ingested
            feed_s = lead_cpu - got[self.leader_index] * ingest_s_per_reading
            out["cpu"]["ingest_only_cpu_us_per_reading"] = rnd(ingest_s_per_reading * 1e6, 1)
            out["cpu"]["leader_feed_cpu_us_per_reading"] = rnd(feed_s / readings * 1e6, 1)
        return out


class Hubs:
    """One hub child process, or several sharing the load through an MQTT v5 shared subscription."""

    def __init__(self, a: argparse.Namespace, work: Path, broker: Mosquitto, influx: InfluxDB, db: str) -> None:
        self.children: list[HubProcess] = []
        # bench.ingest --cluster hands its ClusterRun in on the arguments (bench._runs builds the Hubs).
        self.cluster: ClusterRun | None = getattr(a, "cluster_run", None)
        self.timeout = a.timeout
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
            if self.cluster is not None:
                config["alerts"] = self.cluster.alerts_section()
            self.children.append(HubProcess(work / ("hub" if a.hubs == 1 else f"hub{i + 1}"), config))

    @property
    def logs(self) -> str:
        return ", ".join(str(c.log) for c in self.children)

    @property
    def pids(self) -> list[int | None]:
        return [c.pid for c in self.children]

    def start(self) -> None:
        if self.cluster is not None:
            os.environ[CLUSTER_PG_ENV] = self.cluster.db.dsn  # the hub children inherit it
        for c in self.children:
            c.start()
        if self.cluster is not None:
            self.cluster.wait_for_leader(self.children)

    def stop(self) -> None:
        if self.cluster is not None:
            # The ingest may be through before the leader: its lag is only known once it is through too.
            self.cluster.finish(self.timeout)
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
        per_hub = [c.metrics() for c in self.children]
        if self.cluster is not None:
            self.cluster.per_hub = per_hub
        for m in per_hub:
            for k, v in m.items():
                total[k] = total.get(k, 0.0) + v
        return total

    def peak_rss_mb(self) -> float | None:
        """Sum over the hub processes of each one's peak resident set (VmHWM)."""
        return group_peak_rss_mb(self.pids)
