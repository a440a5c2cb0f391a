"""One run of bench.multihub: a scenario replayed through one hub or several on a shared subscription, what came out.

A run has its own topic prefix (so its nodes, hubs and persistent sessions never meet another run's on the shared
broker), its own InfluxDB database, its own webhook receiver, and one data dir per hub. The replay goes through
real edge agents (``simulators.sensors.replay.ReplayThread``, outbox ``confirm: hub``: a message leaves a node's
outbox when a hub has stored it), so a message a killed hub never confirmed is resent by its node and stored by
a surviving hub.

Collected per run: every alarm change each hub's engine committed for notification (``alarm_events`` in each
hub's alerts.db, one row per alarm, revision and transition; in a cluster run, the leaders' ``alarm_events`` in the
run's PostgreSQL database, bench._multihub_cluster), every webhook delivery (one per notification id:
retries of one notification are counted apart), the readings stored in InfluxDB, the Nesterov index points
(``fire_danger``) and the hubs' own counters.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._alerts_load import WebhookReceiver
from bench._multihub_cluster import PG_ENV, ClusterDB, Leader
from bench._multihub_setup import FIRE_AREA, Setup, hub_config
from bench._report import log as report_log
from hub.store.influx_query import InfluxReader
from simulators.sensors.replay import ReplayThread
from testkit.hubproc import HubProcess
from testkit.localsvc import InfluxDB, Mosquitto, PostgreSQL

POLL_S = 0.05
FAILOVER_POLL_S = 0.01  # the takeover is 0.1-0.3 s (hub/alerts/leader.py): a coarser poll would blur it
FAILOVER_TIMEOUT_S = 60.0


def log(msg: str) -> None:
    report_log(msg, "multihub")


@dataclass(frozen=True)
class Mode:
    name: str  # single | single_again | shared | shared_kill | cluster | cluster_kill
    hubs: int
    kill: bool = False
    cluster: bool = False  # alerts.cluster on one PostgreSQL database of the run's own


def _ro(path: Path) -> sqlite3.Connection:
    """A read-only connection to a hub's SQLite file (WAL: reading while the hub writes is fine)."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def _scalar(path: Path, sql: str) -> int:
    if not path.exists():
        return 0
    conn = _ro(path)
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # the table is not there yet
        return 0
    finally:
        conn.close()


class Run:
    """The hubs of one run, the receiver their notifications go to, and the replay through them."""

    def __init__(
        self,
        a: argparse.Namespace,
        work: Path,
        setup: Setup,
        mode: Mode,
        broker: Mosquitto,
        influx: InfluxDB,
        pg: PostgreSQL | None = None,
    ) -> None:
        self.a, self.setup, self.mode, self.influx = a, setup, mode, influx
        self.db = f"multihub_{work.name.replace('-', '_')}".lower()
        self.cluster: ClusterDB | None = None
        if mode.cluster:
            if pg is None:
                raise ValueError(f"mode {mode.name} needs the bench's PostgreSQL")
            self.cluster = ClusterDB(pg, self.db)
        self.receiver = WebhookReceiver(a.secret)
        # A hub killed in the middle of a delivery resets its connection: one line, not socketserver's traceback
        # (the delivery stays pending in the hub's queue and is sent again after its restart).
        self.receiver.server.handle_error = _broken_delivery  # type: ignore[method-assign]
        group = f"mh-{work.name}" if mode.hubs > 1 else None
        self.waited_on: dict[str, float] = {}
        self.hubs = []
        for i in range(mode.hubs):
            config = hub_config(
                setup, broker.port, influx.url, self.db, self.receiver.url, f"{work.name}-hub{i + 1}", group
            )
            if group is not None and a.session_expiry_s is not None:
                config["mqtt"]["session_expiry_s"] = a.session_expiry_s
            if self.cluster is not None:
                config["alerts"] = {**config["alerts"], "cluster": {"dsn": {"env": PG_ENV}}}
            self.hubs.append(HubProcess(work / f"hub{i + 1}", config))
        self.reader = InfluxReader(influx.url, self.db)
        self.source = "/^(" + "|".join(setup.quantities) + ")$/"

    def data_dir(self, hub: HubProcess) -> Path:
        return Path(hub.config["data_dir"])

    def stored(self) -> int:
        return self.reader.count(self.source)

    def _start(self, hub: HubProcess) -> None:
        if self.cluster is not None:
            os.environ[PG_ENV] = self.cluster.dsn  # the hub child inherits it: a DSN is never written to config
        hub.start()

    # -- the run ------------------------------------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        replay = self.setup.replay
        expected = replay.counts()["readings"]
        kill: dict[str, Any] | None = None
        try:
            for hub in self.hubs:
                self._start(hub)
            log(f"{self.setup.name}/{self.mode.name}: {len(self.hubs)} hub(s) up; replaying {expected} readings")
            t0 = time.monotonic()
            runner = ReplayThread(replay, drain_timeout_s=self.a.drain_timeout, window_s=self.a.window).start()
            try:
                if self.mode.kill:
                    kill = self._kill_and_restart(runner, t0)
                summary = runner.join(self.a.timeout)
            finally:
                runner.stop()
            t_replayed = time.monotonic()
            if summary["stopped_early"]:
                raise RuntimeError("the replay stopped early")
            settled = self._settle()
            t_settled = time.monotonic()
            metrics = [self._metrics(h) for h in self.hubs]
            leader = self.cluster.leader() if self.cluster is not None else None
        finally:
            for hub in self.hubs:
                try:
                    hub.stop()
                except Exception as exc:
                    log(f"stopping {hub.workdir.name} failed: {exc!r}")
            self.receiver.close()
        stored = self.stored()
        replay_s = t_replayed - t0
        events = self._events_per_hub()
        out: dict[str, Any] = {
            "hubs": len(self.hubs),
            "readings": expected,
            "readings_stored": stored,
            "readings_lost": expected - stored,
            "replay_wall_s": round(t_replayed - t0, 2),
            "settle_s": round(t_settled - t_replayed, 2),
            "settled": settled,
            "settle_waited_on": self.waited_on,
            "ingest_readings_per_s": round(stored / replay_s) if replay_s > 0 else None,
            "per_hub": [
                {
                    "hub": hub.workdir.name,
                    "readings_received": int(m.get("readings_received", 0)),
                    "readings_per_s": round(m.get("readings_received", 0) / replay_s) if replay_s > 0 else None,
                    "duplicates": int(m.get("duplicates", 0)),
                    "alarm_events": len(ev),  # its own engine's (alerts.db): none in a cluster run
                }
                for hub, m, ev in zip(self.hubs, metrics, self._sqlite_events_per_hub(), strict=True)
            ],
            "kill": kill,
        }
        if self.cluster is not None:
            out["cluster"] = {
                "leader_at_end": self._hub_name(leader),
                "epoch_at_end": leader.epoch if leader is not None else None,
                "alarm_events": sum(len(ev) for ev in events),
                "deliveries_by_status": self.cluster.deliveries_by_status(),
            }
        out["transitions"] = [t for ev in events for t in ev]
        out["deliveries"] = [
            {"id": r.delivery_id, **_key_fields(r.payload["alarm"], r.payload["transition"])}
            | {"alarm_id": r.payload["alarm"]["id"], "revision": r.payload["alarm"]["revision"]}
            for r in self.receiver.received
        ]
        out["redeliveries"] = self.receiver.repeats
        out["bad_signatures"] = self.receiver.bad_signatures
        out["nesterov"] = self._nesterov()
        out["qc"] = self._qc()
        self.reader.close()
        if self.cluster is not None:
            self.cluster.close()
        log(
            f"{self.setup.name}/{self.mode.name}: replayed in {out['replay_wall_s']} s, settled in {out['settle_s']} s;"
            f" {len(out['transitions'])} alarm transitions, {len(out['deliveries'])} notifications, "
            f"{out['readings_lost']} readings lost"
        )
        return out

    def _kill_and_restart(self, runner: ReplayThread, t0: float) -> dict[str, Any]:
        """SIGKILL one hub once the replay has written ``--kill-at`` of the scenario; start it again at
        ``--restart-at`` (or when the replay ends, or after ``--down-s``, if sooner). Meanwhile: how long until
        every reading written to the outboxes before the kill is in InfluxDB (the survivors took over the dead
        hub's share)."""
        duration = self.setup.replay.duration_s
        victim = self.hubs[len(self.hubs) // 2]
        deadline = time.monotonic() + self.a.timeout
        while runner.state.t_s < self.a.kill_at * duration and not runner.done:
            if time.monotonic() > deadline:
                raise TimeoutError("the replay never reached the kill point")
            time.sleep(POLL_S)  # polling the replay thread's progress: it has no event to wait on
        before_leader: Leader | None = None
        if self.cluster is not None:
            before_leader, victim = self._leader_hub(deadline)
        written = runner.state.readings
        before = self._metrics(victim)
        t_kill = time.monotonic()
        victim.kill()
        up_by = t_kill + self.a.down_s if self.a.down_s is not None else float("inf")
        scenario_at_kill = runner.state.t_s
        log(f"killed {victim.workdir.name} (SIGKILL) at scenario +{scenario_at_kill / 3600:.1f} h")
        failover = self._failover(before_leader, t_kill) if before_leader is not None else None
        caught_up: float | None = None
        while not (runner.state.t_s >= self.a.restart_at * duration or runner.done or time.monotonic() >= up_by):
            if caught_up is None and self.stored() >= written:
                caught_up = time.monotonic() - t_kill
            if time.monotonic() > deadline:
                raise TimeoutError("the replay never reached the restart point")
            time.sleep(POLL_S)
        down_s = time.monotonic() - t_kill
        scenario_at_restart = runner.state.t_s
        self._start(victim)
        log(f"restarted {victim.workdir.name} at scenario +{scenario_at_restart / 3600:.1f} h, {down_s:.1f} s down")
        if caught_up is None:
            while self.stored() < written and time.monotonic() < deadline:
                time.sleep(POLL_S)
            caught_up = time.monotonic() - t_kill if self.stored() >= written else None
        return {
            "hub": victim.workdir.name,
            "at_wall_s": round(t_kill - t0, 2),
            "scenario_at_kill_h": round(scenario_at_kill / 3600, 2),
            "scenario_at_restart_h": round(scenario_at_restart / 3600, 2),
            "down_s": round(down_s, 2),
            "readings_written_before_kill": written,
            "hub_readings_received_before_kill": int(before.get("readings_received", 0)),
            "stored_all_written_before_kill_s": round(caught_up, 2) if caught_up is not None else None,
            **(failover or {}),
        }

    def _hub_name(self, leader: Leader | None) -> str | None:
        if leader is None:
            return None
        for hub in self.hubs:
            if hub.config["mqtt"]["client_id"] == leader.holder:
                return hub.workdir.name
        return leader.holder

    def _leader_hub(self, deadline: float) -> tuple[Leader, HubProcess]:
        """The hub that leads now (the leadership row's holder, its session holding the lock)."""
        assert self.cluster is not None
        while True:
            leader = self.cluster.leader()
            if leader is not None and leader.holds_lock:
                for hub in self.hubs:
                    if hub.config["mqtt"]["client_id"] == leader.holder and hub.proc is not None:
                        return leader, hub
            if time.monotonic() > deadline:
                raise TimeoutError(f"no hub leads the cluster (leadership row: {leader})")
            time.sleep(POLL_S)  # polling PostgreSQL: the leadership offers no notification to wait on

    def _failover(self, before: Leader, t_kill: float) -> dict[str, Any]:
        """From the SIGKILL to the next leader: its epoch committed and its lock held (``failover_s``), then its
        feed subscribed (the log line ``alert source ... subscribed (epoch N)``, ``feed_live_s``)."""
        assert self.cluster is not None
        deadline = t_kill + FAILOVER_TIMEOUT_S
        after: Leader | None = None
        failover_s: float | None = None
        while time.monotonic() < deadline:
            leader = self.cluster.leader()
            if leader is not None and leader.epoch > before.epoch and leader.holds_lock:
                after, failover_s = leader, time.monotonic() - t_kill
                break
            time.sleep(FAILOVER_POLL_S)  # polling PostgreSQL: nothing notifies a change of leader
        feed_live_s: float | None = None
        if after is not None:
            hub = next((h for h in self.hubs if h.config["mqtt"]["client_id"] == after.holder), None)
            line = f"subscribed (epoch {after.epoch})"
            while hub is not None and time.monotonic() < deadline:
                if hub.log.exists() and line in hub.log.read_text(errors="replace"):
                    feed_live_s = time.monotonic() - t_kill
                    break
                time.sleep(FAILOVER_POLL_S)  # polling the hub's log: the hub has no other sign of its feed
        log(
            f"{self.setup.name}/{self.mode.name}: leader {before.holder} (epoch {before.epoch}) killed; "
            + (f"{after.holder} leads (epoch {after.epoch}) after {failover_s:.2f} s" if after else "no new leader")
        )
        return {
            "leader_epoch_before": before.epoch,
            "leader_after": self._hub_name(after),
            "leader_epoch_after": after.epoch if after is not None else None,
            "failover_s": round(failover_s, 3) if failover_s is not None else None,
            "feed_live_s": round(feed_live_s, 3) if feed_live_s is not None else None,
        }

    def _pending(self) -> dict[str, int]:
        """What the hubs still hold, by kind: alarm events not handed to the notifier, alarm lines not in InfluxDB,
        notifications not delivered (in their SQLite files and, in a cluster run, in PostgreSQL); zeros left out."""
        n: dict[str, int] = {}
        for hub in self.hubs:
            d = self.data_dir(hub)
            n["undispatched"] = n.get("undispatched", 0) + _scalar(
                d / "alerts.db", "SELECT count(*) FROM alarm_events WHERE dispatched = 0"
            )
            n["pending_lines"] = n.get("pending_lines", 0) + _scalar(
                d / "alerts.db", "SELECT count(*) FROM pending_lines"
            )
            n["deliveries"] = n.get("deliveries", 0) + _scalar(
                d / "notify.db", "SELECT count(*) FROM deliveries WHERE status = 'pending'"
            )
        if self.cluster is not None:
            for k, v in self.cluster.pending().items():
                n[k] = n.get(k, 0) + v
        return {k: v for k, v in n.items() if v}

    def _settle(self) -> bool:
        """Wait until every hub is idle: nothing pending, the received counts unchanged for a second (a restarted
        hub may still drain its session's queue), each alarm event notified; False at the deadline. What it waited
        on longest goes to ``self.waited_on`` (seconds per reason)."""
        deadline = time.monotonic() + self.a.timeout
        last: tuple[float, ...] = ()
        quiet_since = time.monotonic()
        waited: dict[str, float] = {}
        t_last = time.monotonic()
        try:
            while time.monotonic() < deadline:
                counts = tuple(h.metrics().get("readings_received", 0.0) for h in self.hubs)
                if counts != last:
                    last, quiet_since = counts, time.monotonic()
                events = sum(len(ev) for ev in self._events_per_hub())
                reasons = set(self._pending())
                if time.monotonic() - quiet_since < 1.0:
                    reasons.add("readings_received_changing")
                if len(self.receiver.received) < events:
                    reasons.add("events_not_notified")
                now = time.monotonic()
                for r in reasons:
                    waited[r] = waited.get(r, 0.0) + (now - t_last)
                t_last = now
                if not reasons:
                    return True
                time.sleep(POLL_S)  # polling the hubs' files and counters: they offer nothing to wait on
            log(f"{self.setup.name}/{self.mode.name}: not settled after {self.a.timeout} s")
            return False
        finally:
            self.waited_on = {k: round(v, 2) for k, v in sorted(waited.items())}

    def _metrics(self, hub: HubProcess) -> dict[str, float]:
        try:
            return hub.metrics()
        except OSError:
            return {}

    def _events_per_hub(self) -> list[list[dict[str, Any]]]:
        """The committed alarm changes, per hub that committed them; a cluster's leaders commit to one outbox in
        PostgreSQL which does not say which leader wrote a row: one list, hub 0."""
        if self.cluster is None:
            return self._sqlite_events_per_hub()
        return [
            [
                {"hub": 0, "alarm_id": aid, "revision": rev, **_key_fields(body, transition)}
                for aid, transition, rev, body in self.cluster.events()
            ]
        ]

    def _sqlite_events_per_hub(self) -> list[list[dict[str, Any]]]:
        out = []
        for i, hub in enumerate(self.hubs):
            path = self.data_dir(hub) / "alerts.db"
            rows: list[tuple[str, str, int, str]] = []
            if path.exists():
                conn = _ro(path)
                try:
                    rows = conn.execute(
                        "SELECT alarm_id, transition, revision, body FROM alarm_events ORDER BY id"
                    ).fetchall()
                except sqlite3.OperationalError:
                    rows = []
                finally:
                    conn.close()
            out.append(
                [
                    {"hub": i + 1, "alarm_id": aid, "revision": rev, **_key_fields(json.loads(body), transition)}
                    for aid, transition, rev, body in rows
                ]
            )
        return out

    def _nesterov(self) -> dict[str, float]:
        """The fire_danger points of the area (epoch ms -> P), as the hubs wrote them (empty: no fire rule)."""
        if "fire_areas" not in self.setup.alerts:
            return {}
        rows = self.reader.query(f"SELECT p FROM fire_danger WHERE area_id = '{FIRE_AREA}'")
        return {str(r["time"]): float(r["p"]) for r in rows}

    def _qc(self) -> dict[str, str]:
        """Readings the hubs' quality control flagged: 'measurement/node/sensor/epoch ms' -> the check."""
        rows = self.reader.query(f'SELECT "qc", "node_id", "sensor_id" FROM {self.source} WHERE "qc" =~ /.+/')
        return {f"{r['measurement']}/{r['node_id']}/{r['sensor_id']}/{r['time']}": str(r["qc"]) for r in rows}


def _broken_delivery(request: Any, client_address: Any) -> None:
    log(f"a webhook delivery from {client_address} broke off (its hub was killed)")


def _key_fields(alarm: dict[str, Any], transition: str) -> dict[str, Any]:
    return {
        "rule": alarm["rule"],
        "subject": alarm["subject"],
        "transition": transition,
        "level": alarm.get("level"),
        "at": alarm["updated_at"],
    }
