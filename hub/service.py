"""Starting and stopping the hub: HTTP port, stores, notification workers, ingest threads and HTTP server, in that
order; stopping drains them in the reverse order. What runs on which thread: docs/concurrency.md."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from hub.alerts.alarm import NOTIFY_ON, Alarm, Transition
from hub.alerts.config import load_rule_tables
from hub.alerts.engine import AlertEngine
from hub.alerts.notify.dispatcher import Dispatcher
from hub.alerts.store import AlertStore
from hub.alerts.threshold_overrides import RuleManager, ThresholdStore
from hub.api.app import make_app
from hub.api.engine_view import ClusterEngineView
from hub.api.session import load_session_key
from hub.config import HubConfig
from hub.forecast.service import POLL_S as FORECAST_POLL_S
from hub.forecast.service import ForecastJob, open_forecast_job
from hub.ingest.pipeline import IngestPipeline
from hub.metrics import Metrics
from hub.node_seed import load_seed_files
from hub.quality.checker import QualityChecker, intervals_from_nodes
from hub.quality.completeness_job import CompletenessJob
from hub.quality.config import QualityConfig, load_quality_config
from hub.remote_config import NodeConfigs
from hub.store.desired import DesiredConfigs
from hub.store.influx_query import InfluxReader
from hub.store.state import HubState, NodeInfo
from hub.warn.outbox import OutboxLike
from hub.warn.service import PublicWarnings, open_public_warnings
from plumbing import systemd

if TYPE_CHECKING:  # psycopg is loaded only in cluster mode (alerts.cluster)
    from hub.alerts.cluster import ClusterAlerts
    from hub.alerts.pg_alarm_feed import PgAlarmListener
    from hub.alerts.pg_store import AlertStoreLike
    from hub.alerts.pg_threshold_store import ThresholdListener

log = logging.getLogger(__name__)

# At shutdown, how long the notification workers may go on delivering what is queued (alarms raised by the last
# batch, say) before they stop; what is still pending then stays in notify.db and goes out after the next start.
NOTIFY_DRAIN_S = 3.0
# Cluster mode: the longest a hub goes without looking for another hub's threshold change (a notification lost with
# a connection); a notification wakes it at once.
THRESHOLD_REFRESH_S = 2.0


class HubStartError(RuntimeError):
    """The hub cannot start (its HTTP port is taken...); the message says why, for the operator."""


class Hub:
    """Lifecycle: ``await start()``, ``await stop()``; or ``await run(stop_event)``.

    The constructor only builds this object: it touches no file, socket or thread. ``start()`` binds the HTTP port
    first (a taken port raises HubStartError before anything is opened), then opens the stores and starts the
    workers; the stores, the engine and the pipeline exist from then on.
    """

    # Made by start(), off the event loop (they open SQLite files, read rule and node files, certificates).
    state: HubState  # the writer thread's connection
    read_state: HubState  # the API's read-only connection
    pipeline: IngestPipeline
    configs: NodeConfigs
    rules: RuleManager
    alert_store: AlertStoreLike  # the API's read-only connection to alerts.db (PostgreSQL in cluster mode)

    def __init__(self, config: HubConfig, config_dir: Path | None = None) -> None:
        self.config = config
        self.config_dir = config_dir
        self.metrics = Metrics()
        self.dispatcher: Dispatcher | None = None
        self.warnings: PublicWarnings | None = None
        self.engine: AlertEngine | None = None
        self.cluster: ClusterAlerts | None = None  # alerts.cluster set: the engine runs on the leader only
        self.alarm_listener: PgAlarmListener | None = None  # cluster mode: the console's push, from PostgreSQL
        self.api_view: ClusterEngineView | None = None  # cluster mode: what the console reads instead of an engine
        self.threshold_listener: ThresholdListener | None = None  # cluster mode: another hub changed a threshold
        self._thresholds_stop = threading.Event()
        self._thresholds_thread: threading.Thread | None = None
        self._escalations: asyncio.Task[None] | None = None
        self._jobs: list[asyncio.Task[None]] = []  # periodic work: completeness, forecasts
        self.quality_config: QualityConfig | None = None
        self.forecast_job: ForecastJob | None = None
        self._api_io: ThreadPoolExecutor | None = None
        self._runner: web.AppRunner | None = None
        self._opened = False
        self.http_port: int | None = None
        self.on_started: Callable[[], None] | None = None  # the CLI's "running" line, once everything listens

    # -- opening (a worker thread, at start) -----------------------------------------------------------------
    def _open(self) -> None:
        """Everything that touches the disk: the data directory, the SQLite stores, seed and rule files."""
        config = self.config
        config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if config.data_dir.stat().st_mode & 0o077:
            config.data_dir.chmod(0o700)  # the hub's own: registry, dead letters, snapshots, audit trails
        db = config.data_dir / "hub.db"
        self.state = HubState(db)
        seeds = load_seed_files(config.registry.seed_files, base=self.config_dir)
        if seeds:
            self.state.register(seeds)
            log.info("registered %d nodes from seed files", len(seeds))
        self.read_state = HubState(db)
        # The registry the ingest path checks readings against (it too reads it once, at start).
        self.registry_at_start: list[NodeInfo] = list(self.state.known_nodes().values())
        if config.notify:
            self.dispatcher = Dispatcher(config.notify, config.data_dir / "notify.db")
            self.metrics.extra.append(self.dispatcher.metric_lines)
        if config.warnings is not None:
            outbox: Path | OutboxLike = config.data_dir / "warnings.db"
            if config.alerts is not None and config.alerts.cluster is not None:
                from hub.warn.pg_outbox import PgOutbox  # psycopg: cluster mode only

                # One record of public warnings for the cluster; its senders run on the leader (cluster.py).
                outbox = PgOutbox(config.alerts.cluster.dsn.read())
            self.warnings = open_public_warnings(config.warnings, outbox, self.config_dir)
            self.metrics.extra.append(self.warnings.metric_lines)
        checker = self._make_checker()
        if config.alerts is not None and config.alerts.cluster is not None:
            self._open_cluster()
            checker = None  # quality control is the leader's: this hub sees only a share of each series
        self.engine = self._make_engine() if config.alerts is not None and self.cluster is None else None
        self.pipeline = IngestPipeline(config, self.state, self.metrics, self.engine, checker)
        if config.alerts is not None and self.engine is not None:
            self.forecast_job = open_forecast_job(config.alerts, config.influx, self.engine, self.config_dir)
        self.configs = NodeConfigs(DesiredConfigs(db), self.pipeline.topics, self.pipeline.publish)
        # Republished on every (re)connect: a broker that lost its retained messages still converges.
        self.pipeline.on_connected.append(self.configs.republish_all)
        self._opened = True

    def _open_cluster(self) -> None:
        """Cluster mode: this hub's writer feeds no engine; the leader's engine, the API's alarms and the delivery
        queue are in PostgreSQL (docs/scaling.md, "Cluster mode")."""
        from hub.alerts.cluster import ClusterAlerts
        from hub.alerts.pg_alarm_feed import PgAlarmListener
        from hub.alerts.pg_store import PgAlertStore
        from hub.alerts.pg_threshold_store import PgThresholdStore, ThresholdListener

        alerts_config = self.config.alerts
        assert alerts_config is not None and alerts_config.cluster is not None
        dsn = alerts_config.cluster.dsn.read()
        # Every hub's API reads and changes the one set of overrides; the leader's engine gets them (cluster.py).
        self.rules = RuleManager(lambda: load_rule_tables(alerts_config, base=self.config_dir), PgThresholdStore(dsn))
        self.threshold_listener = ThresholdListener(dsn)
        warnings = self.warnings

        def public_warnings(events: list[tuple[int, Alarm, Transition]]) -> None:
            if warnings is not None:
                for _, alarm, transition in events:
                    warnings.submit(alarm, transition)

        quality = self.quality_config
        registry = self.registry_at_start
        self.cluster = ClusterAlerts(
            self.config,
            alerts_config.cluster,
            lambda: self.rules.current,  # the files as read at start or the last reload, overrides on top
            dict(self.state.known_nodes()),
            on_events=public_warnings,
            checker=(lambda: QualityChecker(quality, intervals_from_nodes(registry))) if quality is not None else None,
            completeness_every_s=quality.completeness.every_s if quality is not None else None,
            config_dir=self.config_dir,
            rules=self.rules,
            warnings=warnings,
        )
        # The API's own reader: reopened after a PostgreSQL restart (it never writes).
        self.alert_store = PgAlertStore(self.cluster.dsn, application_name="iocgw-api", reopen_reads=True)
        self.api_view = ClusterEngineView(alerts_config, self.rules, self.alert_store)
        self.alarm_listener = PgAlarmListener(self.cluster.dsn)  # every hub's console hears the leader's commits

    def _follow_thresholds(self) -> None:
        """Cluster mode: another hub's threshold change reaches this hub's tables (the API's views, and the engine
        while this hub leads) at once; every THRESHOLD_REFRESH_S anyway, for a notification lost with a connection."""
        listener = self.threshold_listener
        assert listener is not None
        while not self._thresholds_stop.is_set():
            listener.wait(THRESHOLD_REFRESH_S)
            if self._thresholds_stop.is_set():
                break
            try:
                self.rules.refresh()
            except Exception:  # PostgreSQL away: the next wake-up tries again
                log.exception("threshold overrides: refresh failed")

    def _cluster_engine(self) -> AlertEngine | None:
        """Cluster mode: the engine while this hub leads (acknowledgements go through it), else None."""
        return self.cluster.engine if self.cluster is not None else None

    def _make_checker(self) -> QualityChecker | None:
        settings = self.config.quality
        if not settings.enabled:
            return None
        path = settings.file
        if path is not None and not path.is_absolute() and self.config_dir is not None:
            path = self.config_dir / path
        config = load_quality_config(path) if path is not None else QualityConfig()
        self.quality_config = config
        return QualityChecker(config, intervals_from_nodes(self.registry_at_start))

    def _make_engine(self) -> AlertEngine:
        assert self.config.alerts is not None
        alerts_config = self.config.alerts
        # The files with the operators' threshold overrides on top; the API changes and reloads through it.
        self.rules = RuleManager(
            lambda: load_rule_tables(alerts_config, base=self.config_dir),
            ThresholdStore(self.config.data_dir / "alerts.db"),
        )
        tables = self.rules.current
        nodes = self.state.known_nodes()
        areas = {n.node_id: n.admin_code for n in nodes.values() if n.admin_code}
        positions = {n.node_id: (n.lat, n.lon) for n in nodes.values() if n.lat is not None and n.lon is not None}
        intervals = {(n.node_id, sid): interval for n in nodes.values() for sid, _, interval in n.sensors}
        store = AlertStore(self.config.data_dir / "alerts.db")
        engine = AlertEngine(
            self.config.alerts,
            tables,
            store,
            areas=areas,
            intervals=intervals,
            positions=positions,
            names={n.node_id: n.name for n in nodes.values() if n.name},
            notify=self._notify,
            notify_on=self.config.notify.transitions() if self.config.notify else NOTIFY_ON,
        )
        self.alert_store = AlertStore(self.config.data_dir / "alerts.db")  # the API's own reader
        self.rules.bind(engine.load)
        return engine

    def _close_stores(self) -> None:
        """The SQLite connections, writers before readers (a worker thread, at stop)."""
        self.state.close()
        self.configs.store.close()
        if self.engine is not None:
            self.engine.store.close()
            self.rules.store.close()
            self.alert_store.close()
        if self.cluster is not None:
            self.alert_store.close()
            self.rules.store.close()
        self.read_state.close()
        if self.forecast_job is not None:
            self.forecast_job.close()

    # -- alarms to notifications -----------------------------------------------------------------------------
    def _notify(self, events: list[tuple[int, Alarm, Transition]]) -> None:
        """Called by the engine (writer thread) after it committed the alarms: queue durable deliveries."""
        if self.dispatcher is not None:
            for _, alarm, transition in events:
                self.dispatcher.submit(alarm, transition)
        if self.warnings is not None:
            for _, alarm, transition in events:
                self.warnings.submit(alarm, transition)

    def _check_escalations(self) -> int:
        assert self.dispatcher is not None and self.engine is not None
        # Both wait for locks the writer thread holds during a batch, and write notify.db: never on the loop.
        return self.dispatcher.check_escalations(self.engine.active(), datetime.now(UTC))

    def _completeness(self, job: CompletenessJob) -> None:
        """One completeness pass (blocks on an InfluxDB query): points stored, data_quality alarms evaluated."""
        now = datetime.now(UTC)
        result = job.run(self.registry_at_start, now)
        engine = self.engine
        self.pipeline.submit(
            result.lines, (lambda: engine.completeness(result.reports, now)) if engine is not None else None
        )

    def _forecast(self, job: ForecastJob) -> None:
        """Refit and issue when due (blocks on InfluxDB); forecasts stored, forecast warnings evaluated."""
        run = job.run(datetime.now(UTC))
        engine = self.engine
        if run.lines or run.forecasts:
            evaluate = (
                (lambda: engine.forecasts(run.forecasts, run.now)) if engine is not None and run.forecasts else None
            )
            self.pipeline.submit(run.lines, evaluate)

    async def _every(self, period_s: float, work: Callable[[], object], name: str) -> None:
        """Run blocking ``work`` off the loop every ``period_s``; a failure is logged and the next round tried."""
        while True:
            try:
                await asyncio.to_thread(work)
            except Exception:  # InfluxDB away, a query refused: the next round tries again
                log.exception("%s failed; next try in %.0f s", name, period_s)
            await asyncio.sleep(period_s)

    def _start_jobs(self) -> None:
        if self.forecast_job is not None:
            fjob = self.forecast_job
            task = self._every(FORECAST_POLL_S, lambda: self._forecast(fjob), "forecasts")
            self._jobs.append(asyncio.create_task(task, name="forecasts"))
        if self.quality_config is not None and self.cluster is None:  # in a cluster, the leader's (cluster.py)
            job = CompletenessJob(self._influx_reader(), retention_policy=self.config.influx.retention_policy)
            period = self.quality_config.completeness.every_s
            self._jobs.append(
                asyncio.create_task(
                    self._every(period, lambda: self._completeness(job), "completeness"), name="completeness"
                )
            )

    async def _escalate(self) -> None:
        while True:
            await asyncio.sleep(10)
            try:
                await asyncio.to_thread(self._check_escalations)
            except Exception:  # escalation trouble must not end the loop that runs it
                log.exception("escalation check failed")

    def reload_rules(self, who: str = "hub") -> None:
        """Re-read the rule tables (overrides kept); a bad file raises ConfigError and the running rules stay.

        Blocking (files, the engine's lock): from a coroutine use ``await hub.reload(...)``."""
        if self.engine is not None or self.cluster is not None:
            self.rules.reload(who)

    async def reload(self, who: str = "hub") -> None:
        """``reload_rules`` off the event loop."""
        await asyncio.to_thread(self.reload_rules, who)

    # -- start and stop --------------------------------------------------------------------------------------
    def _bind_http(self) -> socket.socket:
        """The HTTP socket, taken before anything else: on a port already in use the hub must stop before it
        connects to the broker (it would take over a running hub's MQTT session) or starts any work."""
        host, port = self.config.http.host, self.config.http.port
        try:
            return socket.create_server((host, port), reuse_port=False)
        except OSError as exc:
            raise HubStartError(
                f"cannot listen on http {host}:{port}: {exc.strerror or exc} (another hub or program has it? "
                "set http.port in the hub config)"
            ) from None

    async def start(self) -> None:
        sock = self._bind_http()
        try:
            await asyncio.to_thread(self._open)
        except BaseException:
            sock.close()
            raise
        if self.warnings is not None:
            # In a cluster every hub serves the warnings' API; only the leader sends (started on its gain).
            await self.warnings.start(workers=self.cluster is None)
        if self.dispatcher is not None:
            await self.dispatcher.start()
            if self.engine is not None:
                self._escalations = asyncio.create_task(self._escalate(), name="escalations")
        if self.engine is not None and (self.dispatcher is not None or self.warnings is not None):
            # Events a crash left between the alarm commit and the queues.
            await asyncio.to_thread(self.engine.redispatch)
        self.pipeline.start()  # starts the writer and paho's network threads; connects in the background
        if self.cluster is not None:
            self.cluster.start(asyncio.get_running_loop())  # the candidacy's thread; the engine when it leads
        self._start_jobs()
        # The API's SQLite reads run on this one thread: each read connection is used by one thread at a time.
        self._api_io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-api-store")
        session_key = await asyncio.to_thread(load_session_key, self.config.data_dir / "console-session.key")
        # Built in a worker thread: building reads files (the public page's assets, the unit tables).
        app = await asyncio.to_thread(
            make_app,
            self.pipeline,
            self.metrics,
            self.read_state,
            self.config.registry.offline_after_s,
            engine=self.engine,
            alerts=getattr(self, "alert_store", None),
            rules=getattr(self, "rules", None),
            auth=self.config.api,  # HubConfig.api: ApiSettings | None
            configs=self.configs,
            models_dir=self._models_dir(),
            store_io=self._api_io,
            warnings=self.warnings,
            console=self.config.console,
            influx=self._influx_reader,
            session_key=session_key,
            cluster_engine=self._cluster_engine if self.cluster is not None else None,
            alarm_changes=self.alarm_listener.subscribe if self.alarm_listener is not None else None,
            view=self.api_view,
        )
        if self.alarm_listener is not None:
            self.alarm_listener.start()  # its own thread (LISTEN iocgw_alarms); returns at once
        if self.threshold_listener is not None:
            self._thresholds_thread = threading.Thread(
                target=self._follow_thresholds, name="threshold-refresh", daemon=True
            )
            self._thresholds_thread.start()
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.http_port = self._runner.addresses[0][1]
        log.info("hub HTTP on %s:%s", self.config.http.host, self.http_port)

    def _influx_reader(self) -> InfluxReader:
        """A reader of the hub's own InfluxDB, for the console's charts (blocking: the API calls it in a thread)."""
        influx = self.config.influx
        token = influx.token.read() if influx.token else None
        return InfluxReader(influx.url, influx.database, timeout=influx.timeout_s, token=token)

    def _models_dir(self) -> Path | None:
        d = self.config.models_dir
        if d is not None and not d.is_absolute() and self.config_dir is not None:
            d = self.config_dir / d
        return d

    async def stop(self) -> None:
        """Stop intake (HTTP, then MQTT), flush the ingest batch, drain the notifications a while, close stores."""
        if self._runner is not None:
            await self._runner.cleanup()  # no new API calls; those in flight have finished
        if self.alarm_listener is not None:
            await asyncio.to_thread(self.alarm_listener.stop)
        if self.threshold_listener is not None:
            self._thresholds_stop.set()
            self.threshold_listener.close()
            if self._thresholds_thread is not None:  # ends at its wait's timeout; the store is closed after it
                await asyncio.to_thread(self._thresholds_thread.join, THRESHOLD_REFRESH_S + 6)
        if not self._opened:
            return
        if self.cluster is not None:
            # Steps down first: the source leaves without acknowledging what is not committed, the next leader
            # takes it over; the dispatcher closes on this loop, awaited from the leadership thread.
            await asyncio.to_thread(self.cluster.stop)
        # Leaves the broker, then the writer flushes the batch it holds (alarms included) and acknowledges it.
        await asyncio.to_thread(self.pipeline.stop)
        for task in [*self._jobs, *([self._escalations] if self._escalations is not None else [])]:
            task.cancel()
        await asyncio.gather(*self._jobs, *([self._escalations] if self._escalations else []), return_exceptions=True)
        if self.dispatcher is not None:
            if not await self.dispatcher.drain(NOTIFY_DRAIN_S):
                log.info("notifications still pending at stop: they go out after the next start")
            await self.dispatcher.close()
        if self.warnings is not None:
            await self.warnings.close()
        if self._api_io is not None:
            await asyncio.to_thread(self._api_io.shutdown)  # a read a cancelled request left running ends first
        await asyncio.to_thread(self._close_stores)

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        if self.on_started is not None:
            self.on_started()
        systemd.notify("READY=1")
        try:
            await systemd.keep_alive(stop)
        finally:
            systemd.notify("STOPPING=1")
            await self.stop()
