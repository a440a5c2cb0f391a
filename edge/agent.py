"""The node agent: samples sensors on schedule, writes telemetry to the outbox, reports health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shutil
import time
from datetime import UTC, datetime

from edge.config import NodeConfig, SensorConfig
from edge.drivers import DriverError, SensorDriver, driver_class
from edge.link import Link
from edge.outbox import Outbox
from iocgw import __version__
from wire import CANONICAL_UNITS, NodeState, Reading, StatusMessage, TelemetryMessage, Topics

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 10.0


class Agent:
    """Lifecycle: ``Agent(config)`` then ``await run(stop)``, which returns after ``stop`` is set."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.topics = Topics(config.mqtt.prefix)
        box = config.outbox
        self.outbox = Outbox(config.outbox_path, box.max_messages, box.when_full, box.synchronous)
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
        )
        self.drivers: dict[str, SensorDriver] = {}
        self._opened: set[str] = set()
        self.started = time.monotonic()
        self.last_error: str | None = None
        self.counters = {"readings": 0, "read_errors": 0, "messages": 0, "refused_by_outbox": 0}

    # -- health -------------------------------------------------------------------------------------------
    def stats(self) -> dict[str, object]:
        return {
            **self.counters,
            "outbox_depth": self.outbox.depth,
            "outbox_dropped": self.outbox.dropped,
            "connected": self.link.connected,
            **{f"link_{k}": v for k, v in self.link.counters.items()},
        }

    def _status_payload(self, state: NodeState, health: bool = True, seq: int | None = None) -> bytes:
        fields: dict[str, object] = {}
        if health:
            data_dir = self.config.data_dir if self.config.data_dir.exists() else self.outbox.path.parent
            fields = {
                "uptime_s": round(time.monotonic() - self.started, 3),
                "disk_free_bytes": shutil.disk_usage(data_dir).free,
                "outbox_depth": self.outbox.depth,
                "outbox_dropped": self.outbox.dropped,
                "last_error": self.last_error or self.link.last_error,
                "extra": {"read_errors": float(self.counters["read_errors"])},
            }
        msg = StatusMessage(
            node_id=self.config.node_id,
            seq=self.outbox.allocate_seq() if seq is None else seq,
            ts=datetime.now(UTC),
            state=state,
            software=f"iocgw {__version__}",
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
            self.last_error = f"sensor {sensor.id}: {exc or type(exc).__name__}"
            log.warning(self.last_error)
            return None
        if sample.value is None or not math.isfinite(sample.value):
            self.counters["read_errors"] += 1
            self.last_error = f"sensor {sensor.id}: no usable value"
            return None
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
            for s in batch:
                # Skip ticks missed while the loop was busy instead of bursting to catch up.
                due[s.id] = max(next_t + s.interval_s, math.ceil(time.time() / s.interval_s) * s.interval_s)
            results = await asyncio.gather(*(self._read_one(s, tick) for s in batch))
            self.record([r for r in results if r is not None], ts=tick)

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.heartbeat_s)
            if not stop.is_set():
                self._publish_status()

    # -- run ----------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        for sensor in self.config.sensors:
            self.drivers[sensor.id] = driver_class(sensor.driver.type)(sensor.driver, sensor)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.link.run(stop), name="link")
                tg.create_task(self._sampler(stop), name="sampler")
                tg.create_task(self._heartbeat(stop), name="heartbeat")
        finally:
            for sid in self._opened:
                with contextlib.suppress(Exception):
                    await self.drivers[sid].close()
            self.outbox.close()
