"""Cluster mode (``alerts.cluster``): the alert engine runs on the leader only, on PostgreSQL.

Design (iii) of docs/scaling-alerts-design.md (issue 17); docs/scaling.md, "Cluster mode". Every hub ingests as on
its own (shared subscription, InfluxDB) but its writer does not feed an engine. ``ClusterAlerts`` is one hub's
part: a candidacy (``AlertLeadership``); on gain it builds the engine on ``PgAlertStore`` (rule state and active
alarms loaded from it), a ``Dispatcher`` on ``PgQueue`` (started on the hub's event loop), and an ``AlertSource``
(one client id for the whole cluster, so the next leader takes over the same MQTT session, ``seen`` from the
store's node sequences read once) whose batches the engine evaluates in the source's worker thread, every commit
fenced by ``leadership.check`` and advancing the nodes' sequences. On loss the source stops first (nothing more is
acknowledged), then the dispatcher closes; the next gain builds everything anew from the database.

The leader also runs what a single hub runs beside its ingest path (``LeaderJobs``, one thread): the time-driven
rules (``engine.tick`` every ``alerts.tick_s``), escalations, the completeness pass with its data_quality alarms,
and the forecasts. Quality control is the leader's alone: it sees each sensor's whole series in order (the ingest
hubs only a share of it), so its processor judges every reading, the engine gets the same observations as on one
hub, and the flags go to InfluxDB as quality-only lines (hub/ingest/processor.py ``ReadingFields``), written before
the batch's commit, or, while InfluxDB is away, committed with it (``pending_lines``) and written once it is back.
If the leader's feed stops on its own (an error), the leader steps down, so that a hub that can evaluate leads.

Threads: the leadership thread runs ``_gain``/``_lose`` (they block on PostgreSQL and MQTT, never the loop; the
dispatcher's start and close are handed to the loop and awaited from here). The engine's store calls happen in the
source's worker thread, and in the API's worker threads for an acknowledgement on the leader.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.alerts.alarm import NOTIFY_ON, Alarm, Transition
from hub.alerts.config import AlertsConfig, ClusterSettings, RuleTables
from hub.alerts.engine import AlertEngine
from hub.alerts.leader import AlertLeadership
from hub.alerts.leader_jobs import Job, LeaderJobs
from hub.alerts.notify.dispatcher import Dispatcher
from hub.alerts.notify.pg_queue import PgQueue
from hub.alerts.pg_store import PgAlertStore
from hub.alerts.source import AlertBatch, AlertSource
from hub.alerts.threshold_overrides import RuleManager
from hub.config import HubConfig
from hub.forecast.service import POLL_S as FORECAST_POLL_S
from hub.forecast.service import ForecastJob, open_forecast_job
from hub.ingest.processor import Processor
from hub.quality.checker import QualityChecker, intervals_from_nodes
from hub.quality.completeness_job import CompletenessJob
from hub.quality.warmup import warm_up
from hub.store.influx import InfluxWriter, Outcome
from hub.store.influx_query import InfluxReader
from hub.store.state import NodeInfo
from hub.warn.service import PublicWarnings
from wire import Topics

log = logging.getLogger(__name__)

# How long a leader waits for its dispatcher to start or close on the hub's loop.
LOOP_CALL_TIMEOUT_S = 15.0
# How often the leader looks for alarms due an escalation (hub/service.py does the same on one hub).
ESCALATION_CHECK_S = 10.0
# Rule state key of the readings the leader's processor holds back as possible spikes (Processor.held_state).
HELD_KEY = "source:held"
# The longest a new leader's quality warm-up waits for one InfluxDB query (it runs before the feed starts).
WARM_UP_TIMEOUT_S = 3.0


class FencedStore:
    """The engine's view of ``PgAlertStore``: every commit fenced by the leadership, and a batch's node sequences
    committed with the engine's first commit in the source's worker thread (never with an acknowledgement from
    another thread, which could commit them before the batch was evaluated)."""

    def __init__(self, store: PgAlertStore, fence: Callable[[Any], object]) -> None:
        self.store = store
        self.fence = fence
        self._seqs: dict[str, int] = {}
        self._dedupe: dict[str, tuple[int, list[int]]] = {}
        self._lines: list[str] = []
        self._held: list[dict[str, Any]] | None = None  # None: unchanged since the last commit
        self.held: list[dict[str, Any]] = []  # as last committed (the leader sets it from the engine's rule state)
        self._owner: int | None = None

    def expect(
        self,
        node_seq: dict[str, int],
        lines: list[str] | None = None,
        dedupe: dict[str, tuple[int, list[int]]] | None = None,
        held: list[dict[str, Any]] | None = None,
    ) -> None:
        """The node sequences, dedupe trackers, quality lines and held readings of the batch the calling thread is
        about to evaluate: they go with its first commit."""
        self._seqs = dict(node_seq)
        self._dedupe = dict(dedupe or {})
        self._lines = list(lines or ())
        self._held = held if held is not None and held != self.held else None
        self._owner = threading.get_ident()

    def _expecting(self) -> bool:
        return self._owner == threading.get_ident() and bool(
            self._seqs or self._lines or self._dedupe or self._held is not None
        )

    def settle(self) -> None:
        """Commit what the batch brought if the engine did not (a batch that changed nothing)."""
        if self._expecting():
            self.commit([], {}, set())
        self._seqs, self._dedupe, self._lines, self._held, self._owner = {}, {}, [], None, None

    def commit(
        self,
        alarms: list[tuple[Alarm, Transition]],
        state: dict[str, Any],
        notify: set[Transition],
        lines: list[str] | None = None,
    ) -> list[tuple[int, Alarm, Transition]]:
        seqs: dict[str, int] | None = None
        dedupe: dict[str, tuple[int, list[int]]] | None = None
        held: list[dict[str, Any]] | None = None
        if self._expecting():
            seqs, self._seqs = self._seqs or None, {}
            dedupe, self._dedupe = self._dedupe or None, {}
            lines, self._lines = [*self._lines, *(lines or ())], []
            held, self._held = self._held, None
            if held is not None:
                state = {**state, HELD_KEY: held}
        events = self.store.commit(alarms, state, notify, lines, node_seq=seqs, dedupe=dedupe, fence=self.fence)
        if held is not None:
            self.held = held
        return events

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class ClusterAlerts:
    """One hub's part in cluster mode. ``start(loop)`` from the loop's thread (non-blocking), ``stop()`` from a
    worker thread (blocks until the leadership is given up)."""

    def __init__(
        self,
        config: HubConfig,
        cluster: ClusterSettings,
        tables: Callable[[], RuleTables],
        nodes: dict[str, NodeInfo],
        on_events: Callable[[list[tuple[int, Alarm, Transition]]], None] | None = None,
        *,
        checker: Callable[[], QualityChecker | None] | None = None,
        completeness_every_s: float | None = None,
        config_dir: Path | None = None,
        rules: RuleManager | None = None,
        warnings: PublicWarnings | None = None,
    ) -> None:
        assert config.alerts is not None
        self.config = config
        self.alerts: AlertsConfig = config.alerts
        self.cluster = cluster
        self.dsn = cluster.dsn.read()
        self.hub_id = cluster.hub_id or config.mqtt.client_id
        self.client_id = cluster.source_client_id or f"{config.mqtt.prefix}-alerts"
        self.tables = tables
        self.nodes = nodes
        self.on_events = on_events
        self.checker = checker  # a fresh quality checker per leadership (it sees the whole series from then on)
        self.completeness_every_s = completeness_every_s  # None: no completeness pass (quality control off)
        self.config_dir = config_dir
        self.rules = rules  # the overrides every hub shares (PostgreSQL); bound to the engine while this hub leads
        self.warnings = warnings  # public warnings on PostgreSQL: every hub serves them, the leader sends
        self.leadership = AlertLeadership(self.dsn, self.hub_id, on_gain=self._gain, on_loss=self._lose)
        self.engine: AlertEngine | None = None
        self.dispatcher: Dispatcher | None = None
        self.source: AlertSource | None = None
        self.jobs: LeaderJobs | None = None
        self._forecast: ForecastJob | None = None
        self._store: PgAlertStore | None = None
        self._writer = InfluxWriter(config.influx)
        # One evaluation and its flush at a time (the feed's batches, the periodic jobs): the engine's pending
        # lines are read, written and released as one step.
        self._flush_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.gains = 0

    # -- life cycle ---------------------------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.leadership.start()

    def stop(self) -> None:
        """Step down (``_lose`` runs first, on the leadership thread) and end the candidacy. Blocking."""
        self.leadership.stop()

    # -- leadership callbacks (the leadership thread) -----------------------------------------------------------
    def _gain(self, epoch: int) -> None:
        self.gains += 1
        store = PgAlertStore(self.dsn)
        self._store = store
        fenced = FencedStore(store, self.leadership.check)
        nodes = self.nodes
        engine = AlertEngine(
            self.alerts,
            self.tables(),
            fenced,  # type: ignore[arg-type]  # AlertStore's interface (hub.alerts.pg_store.AlertStoreLike)
            areas={n.node_id: n.admin_code for n in nodes.values() if n.admin_code},
            intervals={(n.node_id, sid): interval for n in nodes.values() for sid, _, interval in n.sensors},
            positions={n.node_id: (n.lat, n.lon) for n in nodes.values() if n.lat is not None and n.lon is not None},
            names={n.node_id: n.name for n in nodes.values() if n.name},
            notify=self._notify,
            notify_on=self.config.notify.transitions() if self.config.notify else NOTIFY_ON,
        )
        self.engine = engine
        fenced.held = engine.state.get(HELD_KEY, [])  # the engine has read the rule state: the held readings with it
        if self.rules is not None:
            # Overrides committed on any hub since the tables above were read reach the engine before it evaluates.
            self.rules.bind(engine.load, now=True)
        if self.config.notify:
            queue = PgQueue(self.dsn)
            released = queue.release_others()  # a dead leader's claims: its targets' queues need not wait them out
            if released:
                log.info("released %d delivery claim(s) a previous leader left", released)
            dispatcher = Dispatcher(self.config.notify, queue=queue)
            self._on_loop(dispatcher.start())
            self.dispatcher = dispatcher
        if self.warnings is not None:
            # The senders (one set for the cluster, so rate limits hold); first the messages a dead leader left
            # in flight are recovered (hub/warn/service.py).
            self._on_loop(self.warnings.start_workers())
        # Events the previous leader committed but did not hand to the queues (both drop repeats).
        engine.redispatch()
        processor = Processor(
            Topics(self.config.mqtt.prefix),
            dict(nodes),
            accept_unknown_nodes=self.config.registry.accept_unknown_nodes,
            max_payload_bytes=self.config.max_payload_bytes,
            watches=engine.wants,
            max_age=timedelta(days=self.config.max_reading_age_days),
            quality=self._warmed_checker(),
            reading_fields="quality",
            # What the previous leaders evaluated, as their trackers had it: those messages are dropped as repeats.
            dedupe_state=store.dedupe_state(),
        )
        # Readings the previous leader held back as possible spikes: their messages were acknowledged.
        restored = processor.restore_held(fenced.held)
        if restored:
            log.info("holding again %d reading(s) the previous leader held back as possible spikes", restored)
        source = AlertSource(
            self.config.mqtt,
            self.client_id,
            lambda batch: self._evaluate(engine, fenced, batch),
            processor=processor,
            reconnect=lambda: self.leadership.is_leader,
            on_stop=lambda reason: self._source_stopped(source, reason),
        )
        self.source = source
        source.start()
        self.jobs = self._leader_jobs(engine)
        self.jobs.start()
        log.info("hub %s leads the alert engine (epoch %d)", self.hub_id, epoch)
        threading.Thread(target=self._report_subscribed, args=(source, epoch), name="alert-source-ready").start()

    def _warmed_checker(self) -> QualityChecker | None:
        """A quality checker for this leadership, its state rebuilt from each sensor's latest stored readings
        (hub/quality/warmup.py), so the first readings after a takeover are judged as the last leader would have.
        InfluxDB away: an empty checker (logged), never a leadership refused; a short timeout keeps failover short."""
        checker = self.checker() if self.checker is not None else None
        if checker is None:
            return None
        influx = self.config.influx
        token = influx.token.read() if influx.token else None
        reader = InfluxReader(
            influx.url, influx.database, timeout=min(influx.timeout_s, WARM_UP_TIMEOUT_S), token=token
        )
        try:
            result = warm_up(
                checker,
                reader,
                [(n.node_id, sid, q) for n in self.nodes.values() for sid, q, _ in n.sensors],
                intervals=intervals_from_nodes(self.nodes.values()),
                retention_policy=influx.retention_policy,
            )
        finally:
            reader.close()
        log.info("quality control warmed up: %s", result)
        return checker

    def _leader_jobs(self, engine: AlertEngine) -> LeaderJobs:
        """What a single hub runs beside its ingest path, here on the leader."""
        jobs = [Job("tick", self.alerts.tick_s, lambda: self._run_engine(engine, engine.tick), self.alerts.tick_s)]
        dispatcher = self.dispatcher
        if dispatcher is not None:
            escalate = lambda: dispatcher.check_escalations(engine.active(), datetime.now(UTC))  # noqa: E731
            jobs.append(Job("escalations", ESCALATION_CHECK_S, escalate, ESCALATION_CHECK_S))
        if self.completeness_every_s is not None:
            influx = self.config.influx
            reader = InfluxReader(
                influx.url,
                influx.database,
                timeout=influx.timeout_s,
                token=influx.token.read() if influx.token else None,
            )
            completeness = CompletenessJob(reader, retention_policy=influx.retention_policy)
            jobs.append(
                Job("completeness", self.completeness_every_s, lambda: self._completeness(engine, completeness))
            )
        forecast = open_forecast_job(self.alerts, self.config.influx, engine, self.config_dir)
        self._forecast = forecast
        if forecast is not None:
            jobs.append(Job("forecasts", FORECAST_POLL_S, lambda: self._forecasts(engine, forecast)))
        return LeaderJobs(jobs)

    def _completeness(self, engine: AlertEngine, job: CompletenessJob) -> None:
        now = datetime.now(UTC)
        result = job.run(self.nodes.values(), now)
        self._run_engine(engine, lambda: [*result.lines, *engine.completeness(result.reports, now)])

    def _forecasts(self, engine: AlertEngine, job: ForecastJob) -> None:
        run = job.run(datetime.now(UTC))
        if run.lines or run.forecasts:
            self._run_engine(
                engine, lambda: [*run.lines, *(engine.forecasts(run.forecasts, run.now) if run.forecasts else [])]
            )

    @staticmethod
    def _report_subscribed(source: AlertSource, epoch: int) -> None:
        """One log line once the leader's feed is subscribed (off the leadership thread, which must keep probing)."""
        if source.subscribed.wait(30.0):
            log.info("alert source %s subscribed (epoch %d)", source.client_id, epoch)

    def _source_stopped(self, source: AlertSource, reason: str) -> None:
        """The feed stopped. Our own stop (a loss) says so; anything else, while this source is the leader's,
        means this hub can no longer evaluate: it steps down so that another hub (or this one, afresh) leads."""
        log.info("alert source stopped: %s", reason)
        if reason != "stopped" and self.source is source:
            self.leadership.step_down(f"the alert feed stopped: {reason}")

    def _lose(self, epoch: int, reason: str) -> None:
        jobs, self.jobs = self.jobs, None
        if jobs is not None:
            jobs.stop()
        source, self.source = self.source, None
        if source is not None:
            source.stop()
            source.wait_closed(10.0)
        dispatcher, self.dispatcher = self.dispatcher, None
        if dispatcher is not None:
            try:
                self._on_loop(dispatcher.close())
            except Exception:
                log.exception("closing the leader's dispatcher failed")
        warnings = self.warnings
        if warnings is not None and warnings.workers_running and self._loop is not None:
            try:  # not _on_loop: a sender may take its channel's timeout to finish (stop_timeout_s)
                future = asyncio.run_coroutine_threadsafe(warnings.stop_workers(), self._loop)
                future.result(warnings.stop_timeout_s + 5)
            except Exception:
                log.exception("stopping the leader's warning senders failed")
        forecast, self._forecast = self._forecast, None
        if forecast is not None:
            forecast.close()
        if self.rules is not None:
            self.rules.bind(None)
        self.engine = None
        store, self._store = self._store, None
        if store is not None:
            store.close()
        log.info("hub %s no longer leads the alert engine (epoch %d): %s", self.hub_id, epoch, reason)

    # -- evaluation (the source's worker thread, the jobs' thread) ---------------------------------------------
    def _evaluate(self, engine: AlertEngine, store: FencedStore, batch: AlertBatch) -> None:
        """One batch: evaluated and committed with its node sequences and quality lines (fenced), or raising, so
        nothing is acknowledged; then the lines to InfluxDB."""

        def evaluate() -> list[str]:
            # The quality lines straight to InfluxDB first: stored, they need no keeping (a leader that dies before
            # its commit has them written again by the next, the same points); refused or away, they are committed
            # with the batch (pending_lines) and written later. One attempt: the batch must not wait on a retry.
            lines = batch.lines
            if lines and self._writer.write_once(_body(lines)).outcome is Outcome.WRITTEN:
                lines = []
            store.expect(batch.node_seq, lines, batch.dedupe, batch.held)
            try:
                lines = engine.process(batch.observations, batch.status_changes, batch.events, seen=batch.sensor_seen)
                store.settle()
            finally:
                store.expect({})
            return lines

        self._run_engine(engine, evaluate)

    def _run_engine(self, engine: AlertEngine, evaluate: Callable[[], list[str]]) -> None:
        """Evaluate, then write what it returned and what the store keeps pending (the committed quality and alarm
        lines) to InfluxDB; what is pending is released only once written, else it waits for the next round."""
        with self._flush_lock:
            lines = evaluate()
            pending = engine.pending()
            out = list(dict.fromkeys([*lines, *pending]))  # process() may have returned some of the pending
            if not out:
                return
            result = self._writer.write(_body(out), self.config.batch.retry_budget_s)
            if result.outcome is Outcome.WRITTEN:
                if pending:
                    engine.lines_stored()
            else:
                log.warning("lines not stored in InfluxDB (%s): the committed ones kept for the next round", result)

    def _notify(self, events: list[tuple[int, Alarm, Transition]]) -> None:
        dispatcher = self.dispatcher
        if dispatcher is not None:
            for _, alarm, transition in events:
                dispatcher.submit(alarm, transition)
        if self.on_events is not None:
            self.on_events(events)

    def _on_loop(self, coro: Any) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(LOOP_CALL_TIMEOUT_S)


def _body(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()
