"""The node agent: samples sensors on schedule, writes telemetry to the outbox, reports health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shutil
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from edge.actuators.service import ActuationService
from edge.drivers import DriverError, SensorDriver, driver_class
from edge.link import Link
from edge.model_store import ModelStore, ModelUpdateError
from edge.outbox import Outbox
from edge.remote import RemoteConfigStore, Verdict, judge
from plumbing import systemd
from plumbing.version import __version__
from wire import CANONICAL_UNITS, NodeState, Reading, StatusMessage, TelemetryMessage, Topics
from wire.messages import MAX_STATUS_EXTRA
from wire.nodeconfig import NodeConfig, SensorConfig

if TYPE_CHECKING:  # numpy and OpenCV are loaded only by a node with cameras (the `camera` extra)
    from edge.camera.pipeline import CameraPipeline

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 10.0


class Agent:
    """Lifecycle: ``Agent.open(config)`` (the files: before the event loop runs, or in a worker), then
    ``await run(stop)``, which returns after ``stop`` is set. The constructor itself does no I/O."""

    @classmethod
    def open(cls, config: NodeConfig, use_remote_config: bool = True) -> Agent:
        """Open the node's state: the remote config it last accepted (applied over ``config`` unless
        ``use_remote_config`` is false), its outbox and its model store."""
        remote_store = RemoteConfigStore(config.data_dir)
        version = None
        if use_remote_config:
            config, version = remote_store.load(config)
        box = config.outbox
        outbox = Outbox(config.outbox_path, box.max_messages, box.when_full, box.synchronous)
        return cls(config, outbox, remote_store, ModelStore(config.data_dir / "models"), version)

    def __init__(
        self,
        config: NodeConfig,
        outbox: Outbox,
        remote_store: RemoteConfigStore,
        models: ModelStore,
        config_version: str | None = None,
    ) -> None:
        self.remote_store = remote_store
        self.config_version = config_version
        self.config_error: str | None = None
        self.config = config
        self.models = models
        self._pending: NodeConfig | None = None  # an accepted remote config waiting for the current generation to end
        self._generation_stop: asyncio.Event | None = None
        self.topics = Topics(config.mqtt.prefix)
        box = config.outbox
        self.outbox = outbox
        self.link = Link(
            config.node_id,
            config.mqtt,
            self.outbox,
            confirm=box.confirm,
            confirm_timeout_s=box.confirm_timeout_s,
            max_unconfirmed=box.max_unconfirmed,
            will_payload=lambda seq: self._status_payload(NodeState.OFFLINE, health=False, seq=seq),
            goodbye_payload=lambda seq: self._status_payload(NodeState.STOPPED, seq=seq),
            drain_s=box.drain_on_stop_s,
            on_connected=self._publish_status,
            on_config=self._on_config,
            on_actuate=self._on_actuate if config.actuation is not None else None,
        )
        # Built from the config the node started on: a remote config that changes actuators or the key takes
        # effect at the next restart (the key file is the node's own, outside what the hub can push).
        state = config.actuation_state_path
        self.actuation = (
            ActuationService(config.node_id, config.actuation, state)
            if config.actuation is not None and state is not None
            else None
        )
        self._actuation_tasks: set[asyncio.Task[None]] = set()
        self.drivers: dict[str, SensorDriver] = {}
        self._opened: set[str] = set()
        self.started = time.monotonic()
        # Problems as they stand now, each cleared when its cause is gone (a node once "degraded" stayed so forever).
        self._sensor_errors: dict[str, str] = {}
        self._model_error: str | None = None
        self.local_alarms: dict[str, bool] = {}  # sensor id -> its local alarm is on
        self.counters = {"readings": 0, "read_errors": 0, "messages": 0, "refused_by_outbox": 0}
        self.cameras: dict[str, CameraPipeline] = {}  # the current generation's camera pipelines

    # -- health -------------------------------------------------------------------------------------------
    def stats(self) -> dict[str, object]:
        return {
            **self.counters,
            "outbox_depth": self.outbox.depth,
            "outbox_dropped": self.outbox.dropped,
            "connected": self.link.connected,
            **{f"link_{k}": v for k, v in self.link.counters.items()},
        }

    @property
    def last_error(self) -> str | None:
        """The node's own current problem, if any: a sensor that does not read, a model refused, no actuation key."""
        key_error = self.actuation.key_error if self.actuation is not None else None
        return next(iter(self._sensor_errors.values()), None) or self._model_error or key_error

    def _extra(self) -> dict[str, float]:
        extra = {
            "read_errors": float(self.counters["read_errors"]),
            # Messages set aside unsent: larger than the broker's maximum packet size (edge/outbox.py set_aside).
            "outbox.oversize": float(self.outbox.oversize),
            **{f"alarm.{sid}": float(on) for sid, on in self.local_alarms.items()},
            **self._camera_figures(),
        }
        if self.actuation is not None:
            extra.update({f"actuate.{k}": float(v) for k, v in self.actuation.counters.items()})
        if len(extra) > MAX_STATUS_EXTRA:
            # The hub refuses a status with more; the node's own figures and alarms come first and are kept.
            log.warning("status: %d health figures, sending the first %d", len(extra), MAX_STATUS_EXTRA)
            extra = dict(list(extra.items())[:MAX_STATUS_EXTRA])
        return extra

    def _camera_figures(self) -> dict[str, float]:
        """Per-camera figures, plus node-wide ones the fleet dashboard plots (slowest camera's fps, mean inference)."""
        per_camera = [cam.stats() for cam in self.cameras.values()]
        out = {k: v for stats in per_camera for k, v in stats.items()}
        if per_camera:
            fps = [v for stats in per_camera for k, v in stats.items() if k.endswith(".fps")]
            infer = [v for stats in per_camera for k, v in stats.items() if k.endswith(".infer_ms")]
            out["camera_fps"] = min(fps) if fps else 0.0
            out["inference_ms"] = round(sum(infer) / len(infer), 2) if infer else 0.0
        return out

    def _status_payload(self, state: NodeState, health: bool = True, seq: int | None = None) -> bytes:
        fields: dict[str, object] = {}
        if health:
            data_dir = self.config.data_dir if self.config.data_dir.exists() else self.outbox.path.parent
            fields = {
                "uptime_s": round(time.monotonic() - self.started, 3),
                "disk_free_bytes": shutil.disk_usage(data_dir).free,
                "outbox_depth": self.outbox.depth,
                "outbox_dropped": self.outbox.dropped,
                "last_error": self.last_error
                or self.link.last_error
                or next((c.last_error for c in self.cameras.values() if c.last_error), None),
                "extra": self._extra(),
            }
        msg = StatusMessage(
            node_id=self.config.node_id,
            seq=self.outbox.allocate_seq() if seq is None else seq,
            ts=datetime.now(UTC),
            state=state,
            software=f"iocgw {__version__}",
            config_version=self.config_version,
            config_error=self.config_error,
            models=self.models.installed(),
            **fields,  # type: ignore[arg-type]
        )
        return msg.model_dump_json(exclude_none=True).encode()

    def _publish_status(self) -> None:
        if not self.link.connected:
            return  # a heartbeat is worth nothing later; the next connection publishes a fresh one
        self.link.publish_now(
            self.topics.status(self.config.node_id), self._status_payload(NodeState.ONLINE), qos=1, retain=True
        )

    # -- sampling -----------------------------------------------------------------------------------------
    async def _read_one(self, sensor: SensorConfig, now: datetime) -> Reading | None:
        driver = self.drivers[sensor.id]
        try:
            if sensor.id not in self._opened:
                await asyncio.wait_for(driver.open(), READ_TIMEOUT_S)
                self._opened.add(sensor.id)
            sample = await asyncio.wait_for(driver.read(now), READ_TIMEOUT_S)
        except (DriverError, OSError, TimeoutError) as exc:
            self.counters["read_errors"] += 1
            self._sensor_errors[sensor.id] = f"sensor {sensor.id}: {exc or type(exc).__name__}"
            log.warning(self._sensor_errors[sensor.id])
            return None
        if sample.value is None or not math.isfinite(sample.value):
            self.counters["read_errors"] += 1
            self._sensor_errors[sensor.id] = f"sensor {sensor.id}: no usable value"
            return None
        if self._sensor_errors.pop(sensor.id, None) is not None:
            log.info("sensor %s: reading again", sensor.id)
        return Reading(
            sensor_id=sensor.id,
            quantity=sensor.quantity,
            value=sample.value,
            unit=CANONICAL_UNITS[sensor.quantity],
            quality=sample.quality,
            ts=sample.ts or now,
        )

    def record(self, readings: list[Reading], ts: datetime | None = None) -> list[int | None]:
        """Write readings to the outbox as telemetry messages (chunked); returns their sequence numbers."""
        if not readings:
            return []
        ts = ts or datetime.now(UTC)
        size = self.config.max_readings_per_message
        topic = self.topics.telemetry(self.config.node_id)
        items = []
        for i in range(0, len(readings), size):
            chunk = readings[i : i + size]

            def build(seq: int, chunk: list[Reading] = chunk) -> bytes:
                msg = TelemetryMessage(node_id=self.config.node_id, seq=seq, ts=ts, readings=chunk)
                return msg.model_dump_json(exclude_none=True).encode()

            items.append((topic, build))
        seqs = self.outbox.enqueue_many(items)
        self.counters["messages"] += sum(1 for s in seqs if s is not None)
        self.counters["refused_by_outbox"] += sum(1 for s in seqs if s is None)
        self.counters["readings"] += len(readings)
        self.link.kick()
        return seqs

    async def _sampler(self, stop: asyncio.Event) -> None:
        sensors = self.config.sensors
        if not sensors:
            await stop.wait()
            return
        # Ticks sit on whole multiples of each interval (a 60 s gauge reads at :00), as data loggers do.
        now = time.time()
        due = {s.id: math.ceil(now / s.interval_s) * s.interval_s for s in sensors}
        by_id = {s.id: s for s in sensors}
        while not stop.is_set():
            next_t = min(due.values())
            delay = next_t - time.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            tick = datetime.fromtimestamp(next_t, UTC)
            batch = [by_id[sid] for sid, t in due.items() if t <= next_t]
            results = await asyncio.gather(*(self._read_one(s, tick) for s in batch))
            readings = [r for r in results if r is not None]
            self._watch_local_alarms(by_id, readings)
            for s in batch:
                # Skip ticks missed while the loop was busy instead of bursting to catch up.
                step = self.interval_of(s)
                due[s.id] = max(next_t + step, math.ceil(time.time() / step) * step)
            self.record(readings, ts=tick)

    def interval_of(self, sensor: SensorConfig) -> float:
        """The sensor's sampling interval now: the fast one while its local alarm is on."""
        if sensor.alarm is not None and self.local_alarms.get(sensor.id):
            return min(sensor.interval_s, sensor.alarm.fast_interval_s)
        return sensor.interval_s

    def _watch_local_alarms(self, by_id: dict[str, SensorConfig], readings: list[Reading]) -> None:
        for r in readings:
            alarm = by_id[r.sensor_id].alarm
            if alarm is None:
                continue
            was = self.local_alarms.get(r.sensor_id, False)
            now = alarm.crossed(r.value, was)
            if now != was:
                self.local_alarms[r.sensor_id] = now
                log.warning(
                    "sensor %s: local alarm %s %s at %s; sampling every %s s",
                    r.sensor_id,
                    alarm.label or "threshold",
                    "on" if now else "cleared",
                    r.value,
                    self.interval_of(by_id[r.sensor_id]),
                )

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.heartbeat_s)
            if not stop.is_set():
                self._publish_status()

    # -- remote configuration -----------------------------------------------------------------------------
    def _on_config(self, payload: bytes) -> None:
        outcome = judge(payload, self.config, self.config_version)
        if outcome.verdict is Verdict.SAME:
            return
        if outcome.verdict is Verdict.REFUSED:
            self.config_error = outcome.error
            log.warning("remote config refused, keeping version %s: %s", self.config_version, outcome.error)
        else:
            assert outcome.config is not None and outcome.version is not None
            self.remote_store.save(outcome.version, outcome.config)
            log.info("remote config %s accepted; applying", outcome.version)
            self._pending = outcome.config
            self.config_version, self.config_error = outcome.version, None
            if self._generation_stop is not None:
                self._generation_stop.set()
        self._publish_status()

    def _apply_pending(self) -> None:
        new, self._pending = self._pending, None
        if new is None:
            return
        old, self.config = self.config, new
        if new.mqtt != old.mqtt:
            self.link.update_settings(new.mqtt)
        box = new.outbox
        self.link.confirm, self.link.confirm_timeout_s = box.confirm, box.confirm_timeout_s
        self.link.max_unconfirmed, self.link.drain_s = box.max_unconfirmed, box.drain_on_stop_s

    # -- actuators ----------------------------------------------------------------------------------------
    def _on_actuate(self, payload: bytes) -> None:
        task = asyncio.create_task(self._actuate(payload), name="actuate")
        self._actuation_tasks.add(task)
        task.add_done_callback(self._actuation_tasks.discard)

    async def _actuate(self, payload: bytes) -> None:
        assert self.actuation is not None
        ack = await self.actuation.handle(payload)
        # Straight to the broker, not through the outbox: the hub waits for it only for its own timeout, and a
        # command sent again after a lost ack is answered from the store (replayed, with the first outcome).
        if not self.link.publish_now(self.topics.actuate_ack(self.config.node_id), ack.model_dump_json().encode()):
            log.warning("ack of actuator command %s not sent: link down", ack.command_id)

    # -- run ----------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        if self.actuation is not None:
            await self.actuation.start()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.link.run(stop), name="link")
                tg.create_task(self._generations(stop), name="work")
                tg.create_task(systemd.keep_alive(stop), name="watchdog")
                systemd.notify("READY=1")  # the outbox is open: what is measured from now on is kept
        finally:
            systemd.notify("STOPPING=1")
            for task in list(self._actuation_tasks):
                task.cancel()
            if self.actuation is not None:
                await self.actuation.close()
            await self._close_drivers()
            self.outbox.close()

    async def _generations(self, stop: asyncio.Event) -> None:
        """Run the sampling work on the current config; start over on a new one. The link and outbox live on."""
        while not stop.is_set():
            self._apply_pending()
            await self._update_models()
            generation = asyncio.Event()
            self._generation_stop = generation
            relay = asyncio.create_task(self._relay(stop, generation))
            self.drivers = {s.id: driver_class(s.driver.type)(s.driver, s) for s in self.config.sensors}
            try:
                async with asyncio.TaskGroup() as tg:
                    self._start_work(tg, generation)
            finally:
                relay.cancel()
                await self._close_drivers()

    async def _update_models(self) -> None:
        """Before the cameras (re)start: each model the config names is fetched, verified, swapped in, self-tested."""
        problems = []
        for source in self.config.models:
            try:
                result = await asyncio.to_thread(self.models.update, source)
            except ModelUpdateError as exc:
                problems.append(str(exc))
                continue
            if result.changed:
                log.info("model %s: %s -> %s", source.name, result.previous, result.version)
        for problem in problems:
            log.warning("model refused, the one in use kept: %s", problem)
        if problems:
            self._model_error = self.config_error = "; ".join(problems)[:2000]
        elif self._model_error is not None:
            if self.config_error == self._model_error:
                self.config_error = None  # the models named now are in place: that refusal is over
            self._model_error = None
        if self.config.models:
            self._publish_status()

    def _start_work(self, tg: asyncio.TaskGroup, stop: asyncio.Event) -> None:
        tg.create_task(self._sampler(stop), name="sampler")
        tg.create_task(self._heartbeat(stop), name="heartbeat")
        if self.config.cameras:
            from edge.camera.events import OutboxPublisher
            from edge.camera.pipeline import CameraPipeline
        self.cameras = {
            cam.id: CameraPipeline(
                cam, OutboxPublisher(self.config.node_id, cam.id, self.topics, self.outbox, self.link.kick)
            )
            for cam in self.config.cameras
        }
        for cam_id, pipeline in self.cameras.items():
            tg.create_task(pipeline.run(stop), name=f"camera-{cam_id}")

    @staticmethod
    async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
        await source.wait()
        target.set()

    async def _close_drivers(self) -> None:
        for sid in self._opened:
            with contextlib.suppress(Exception):
                await self.drivers[sid].close()
        self._opened.clear()
