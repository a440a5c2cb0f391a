"""The ingest pipeline: MQTT in (manual ack) -> batches -> InfluxDB or spool -> ack to broker and nodes.

Two threads: paho's network thread validates and batches; the writer thread makes each batch durable and only
then acknowledges its messages. While the writer is behind, the batch queue fills, the network thread blocks, and
the broker stops sending once this hub's receive-maximum of unacknowledged messages is reached: back-pressure
all the way to the broker's (bounded, persistent) queue instead of an unbounded queue here.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from hub.alerts.engine import AlertEngine
from hub.broker_client import subscriber_client
from hub.config import HubConfig
from hub.ingest.dedupe import to_ranges
from hub.ingest.processor import Batch, Processor
from hub.metrics import Metrics
from hub.quality.checker import QualityChecker
from hub.store.influx import InfluxWriter, Outcome, isolate_rejected
from hub.store.state import DeadLetter, HubState
from wire import AckMessage, Channel, Topics
from wire.topics import shared

log = logging.getLogger(__name__)


class IngestPipeline:
    """Lifecycle: ``start()``, then ``stop()`` (flushes what it holds). Health in ``metrics`` and ``health()``."""

    def __init__(
        self,
        config: HubConfig,
        state: HubState,
        metrics: Metrics,
        engine: AlertEngine | None = None,
        quality: QualityChecker | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.metrics = metrics
        self.engine = engine
        self.topics = Topics(config.mqtt.prefix)
        self.processor = Processor(
            self.topics,
            state.known_nodes(),
            accept_unknown_nodes=config.registry.accept_unknown_nodes,
            max_payload_bytes=config.max_payload_bytes,
            dedupe_state=state.load_dedupe(),
            watches=engine.wants if engine is not None else None,
            max_age=timedelta(days=config.max_reading_age_days),
            quality=quality,
            # Cluster mode: the leader alone judges quality (hub/alerts/cluster.py); this hub stores values only.
            reading_fields="values" if config.alerts is not None and config.alerts.cluster is not None else "all",
        )
        self.flagged_by_check: dict[str, int] = {}
        metrics.extra.append(self._qc_metric_lines)
        self._next_tick = 0.0
        self.writer = InfluxWriter(config.influx)
        self._batch = Batch()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Batch] = queue.Queue(maxsize=config.batch.queue_batches)
        self._generation = 0
        self._stopping = threading.Event()
        self._writer_thread = threading.Thread(target=self._writer_loop, name="hub-writer", daemon=True)
        self._spool_retry_at = 0.0
        self._letters_since_prune = 0
        self._next_prune = 0.0
        self._spool_backoff = 0.5
        self.connected = False
        self.on_connected: list[Callable[[], object]] = []  # run on paho's thread after each (re)subscribe
        self.last_error: str | None = None
        self.last_flush = time.time()
        spool_batches, spool_lines = state.spool_depth()
        self._spool_bytes = state.spool_bytes()
        self._spool_full = False
        metrics.gauges["spool_bytes"] = lambda: float(self._spool_bytes)
        metrics.gauges["spool_full"] = lambda: float(self._spool_full)
        self._spool_batches = spool_batches
        self._spool_lines = spool_lines
        metrics.gauges["spool_lines"] = lambda: float(self._spool_lines)
        metrics.gauges["spool_batches"] = lambda: float(self._spool_batches)
        metrics.gauges["mqtt_connected"] = lambda: float(self.connected)
        self.client = self._make_client()

    # -- MQTT ---------------------------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        client = subscriber_client(self.config.mqtt, self.config.mqtt.client_id)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.mqtt.session_expiry_s
        props.ReceiveMaximum = self.config.mqtt.receive_maximum
        return props

    def subscriptions(self) -> list[str]:
        group = self.config.mqtt.shared_group
        load = [self.topics.all_of(Channel.TELEMETRY), self.topics.all_of(Channel.EVENT)]
        if group:
            load = [shared(group, t) for t in load]
        # Retained messages never reach shared subscriptions, so every hub reads statuses and snapshots itself.
        return [*load, self.topics.all_of(Channel.STATUS), self.topics.all_of(Channel.SNAPSHOT)]

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            self.last_error = f"broker refused the hub: {rc}"
            log.error(self.last_error)
            return
        with self._lock:
            # Message ids of an earlier connection mean nothing on this one; the broker resends those.
            self._generation += 1
        self.connected = True
        client.subscribe([(t, SubscribeOptions(qos=1)) for t in self.subscriptions()])
        for hook in self.on_connected:
            try:
                hook()
            except Exception:  # a hook's trouble must not stop ingest
                log.exception("on-connect hook failed")
        log.info(
            "hub connected to %s:%s (session present: %s)",
            self.config.mqtt.host,
            self.config.mqtt.port,
            flags.session_present,
        )

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self.connected = False
        if not self._stopping.is_set():
            self.last_error = f"disconnected from broker: {rc}"
            log.warning(self.last_error)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._stopping.is_set():
            return  # not acknowledged: the broker keeps it for this hub's next session
        full: Batch | None = None
        # paho types a payload bytes | bytearray; it is bytes, and a bytearray is copied once rather than typed twice.
        payload = msg.payload if isinstance(msg.payload, bytes) else bytes(msg.payload)
        with self._lock:
            batch = self._batch
            try:
                self.processor.handle(msg.topic, payload, batch)
            except Exception as exc:  # a bug must not stop ingest: keep the message as a dead letter
                log.exception("processing failed")
                batch.dead_letters.append(DeadLetter(msg.topic, f"internal error: {exc!r}", payload, time.time()))
            if msg.qos > 0:
                batch.mids.append((self._generation, msg.mid))
            if (
                len(batch.lines) >= self.config.batch.max_lines
                or len(batch.mids) >= self.config.mqtt.receive_maximum // 2
            ):
                full = self._cut()
        if full is not None:
            self._queue.put(full)  # blocks while the writer is behind: back-pressure

    # -- writer -------------------------------------------------------------------------------------------
    def _cut(self) -> Batch:
        """Close the current batch (caller holds the lock)."""
        batch, self._batch = self._batch, Batch()
        self.processor.release_held(batch)
        batch.dedupe_snapshot = self.processor.dedupe_state(batch.dedupe_dirty)
        return batch

    def _take_if_due(self) -> Batch | None:
        with self._lock:
            b = self._batch
            if b.messages and time.monotonic() - b.created >= self.config.batch.max_delay_s:
                return self._cut()
        return None

    def _writer_loop(self) -> None:
        linger = self.config.batch.max_delay_s
        while True:
            try:
                batch: Batch | None = self._queue.get(timeout=min(linger, 0.05))
            except queue.Empty:
                batch = self._take_if_due()
            if batch is None and self.engine is not None and time.monotonic() >= self._next_tick:
                self._next_tick = time.monotonic() + (self.config.alerts.tick_s if self.config.alerts else 5.0)
                batch = Batch()  # an empty batch: the engine's time-driven rules run in _flush
                batch.tick = True
            if batch is None:
                if self._stopping.is_set() and self._queue.empty():
                    final = self._take_now()
                    if final is not None:
                        self._flush(final)
                    return
                if self._spool_batches:
                    self._drain_spool()
                continue
            try:
                self._flush(batch)
            except Exception:
                # The hub can no longer make data durable (disk full, database file gone). Its in-memory dedupe
                # state is now ahead of what is stored, so carrying on could drop messages: stop hard and let the
                # service manager restart it; unacknowledged messages come back from the broker.
                log.critical(
                    "cannot make a batch durable; exiting so that nothing is acknowledged wrongly", exc_info=True
                )
                os._exit(70)

    def _take_now(self) -> Batch | None:
        with self._lock:
            b = self._cut()
        return b if b.messages else None

    def _drain_spool(self) -> None:
        if time.monotonic() < self._spool_retry_at:
            return
        while self._spool_batches:
            head = self.state.spool_head()
            if head is None:
                self._spool_batches = self._spool_lines = 0
                return
            spool_id, body, n = head
            t0 = time.monotonic()
            result = self.writer.write_once(body)
            if result.outcome is Outcome.UNAVAILABLE:
                self.metrics.inc("influx_errors")
                self.last_error = f"InfluxDB unavailable: {result.status or ''} {result.detail}".strip()
                wait = result.retry_after_s if result.retry_after_s is not None else self._spool_backoff
                self._spool_retry_at = time.monotonic() + wait
                self._spool_backoff = min(self._spool_backoff * 2, 30.0)
                return
            self.metrics.write_latency.observe(time.monotonic() - t0)
            if result.outcome is Outcome.REJECTED:
                lines = body.decode("utf-8", "replace").splitlines()
                iso = isolate_rejected(self.writer, lines, result)
                if iso.result.outcome is Outcome.UNAVAILABLE:
                    self._spool_retry_at = time.monotonic() + self._spool_backoff
                    return
                dead = self._rejected_lines("influx:spool", iso.rejected)
                self.state.persist(dead_letters=dead, seen={}, statuses={}, sensor_values={}, dedupe={})
                self.metrics.inc("dead_letters", len(dead))
                self.metrics.inc("points_written", len(lines) - len(dead))
            else:
                self.metrics.inc("points_written", n)
            self.state.spool_pop(spool_id)
            self._spool_batches -= 1
            self._spool_lines -= n
            self._spool_bytes -= len(body)
            self._spool_backoff = 0.5

    def _room_in_spool(self, size: int) -> bool:
        """Wait while the spool is full (InfluxDB down for long): the writer holding this batch is what stops the
        acknowledgements, so the broker and the nodes keep the data. True once there is room (an empty spool always
        has room, whatever the batch's size); False when the hub is stopping first."""
        limit = int(self.config.batch.max_spool_mb * 1024 * 1024)
        while self._spool_batches and self._spool_bytes + size > limit:
            if not self._spool_full:
                self._spool_full = True
                self.last_error = f"spool full ({self._spool_bytes} bytes): not acknowledging until InfluxDB is back"
                log.warning(self.last_error)
            if self._stopping.is_set():
                return False
            time.sleep(min(self._spool_backoff, 1.0))
            self._spool_retry_at = 0.0
            self._drain_spool()
        self._spool_full = False
        return True

    def _prune_dead_letters(self, added: int) -> None:
        """Keep the dead letters within their age and size bounds: checked every minute, or after 1,000 new ones."""
        self._letters_since_prune += added
        now = time.monotonic()
        if now < self._next_prune and self._letters_since_prune < 1000:
            return
        self._next_prune, self._letters_since_prune = now + 60.0, 0
        bounds = self.config.dead_letters
        pruned = self.state.prune_dead_letters(bounds.max_age_days * 86400, int(bounds.max_mb * 1024 * 1024))
        self.metrics.inc("dead_letters_pruned", pruned)

    def _rejected_lines(self, topic: str, rejected: list[tuple[str, str]]) -> list[DeadLetter]:
        """One dead letter per line InfluxDB refused, with its reason; the batch's other lines are stored."""
        if rejected:
            self.last_error = f"InfluxDB refused {len(rejected)} line(s): {rejected[0][1]}"
            self.metrics.inc("points_rejected", len(rejected))
        now = time.time()
        return [DeadLetter(topic, reason, line.encode(), now) for line, reason in rejected]

    def _evaluate(self, batch: Batch) -> None:
        """Run the alert engine on the batch before anything is acknowledged, so no reading escapes it."""
        if self.engine is None:
            return
        try:
            out: list[str] = []
            if batch.observations or batch.status_changes or batch.events or batch.sensor_values:
                seen = {k: ts for k, (ts, _) in batch.sensor_values.items()}
                out += self.engine.process(batch.observations, batch.status_changes, batch.events, seen=seen)
            if batch.tick:
                out += self.engine.tick()
            for job in batch.jobs:
                out += job()
        except Exception:  # a rule bug must not stop ingest; it is logged and counted
            log.exception("alert engine failed on a batch")
            self.metrics.inc("alert_errors")
            return
        batch.lines.extend(out)
        batch.engine_lines = bool(out)

    def _flush(self, batch: Batch) -> None:
        self._evaluate(batch)
        dead = list(batch.dead_letters)
        spool_body, written = self._store(batch, dead) if batch.lines else (None, 0)
        if spool_body is not None and not self._room_in_spool(len(spool_body)):
            return  # stopping with a full spool: nothing of this batch is stored or acknowledged
        self.state.persist(
            dead_letters=dead,
            seen=batch.seen,
            statuses=batch.statuses,
            sensor_values=batch.sensor_values,
            dedupe=batch.dedupe_snapshot,
            spool_body=spool_body,
            spool_lines=len(batch.lines) if spool_body is not None else 0,
            snapshots=batch.snapshots,
        )
        if self.engine is not None and batch.engine_lines:
            self.engine.lines_stored()
        if spool_body is not None:
            self._spool_batches += 1
            self._spool_lines += len(batch.lines)
            self._spool_bytes += len(spool_body)
            self.metrics.inc("points_spooled", len(batch.lines))
        # Durable now: acknowledge to the broker, then tell nodes what they may forget.
        generation = self._generation
        for gen, mid in batch.mids:
            if gen == generation:
                self.client.ack(mid, 1)
        self._ack_nodes(batch)
        self._count_flushed(batch, written, dead)
        self.last_flush = time.time()

    def _store(self, batch: Batch, dead: list[DeadLetter]) -> tuple[bytes | None, int]:
        """Write the batch's lines to InfluxDB, or hand them back for the spool: (body to spool or None, points
        written). Adds a dead letter to ``dead`` for each line InfluxDB refused."""
        body = ("\n".join(batch.lines) + "\n").encode()
        if self._spool_batches:
            self._drain_spool()
        if self._spool_batches:
            return body, 0  # keep order: nothing jumps the spool
        t0 = time.monotonic()
        result = self.writer.write(body, self.config.batch.retry_budget_s)
        rejected: list[tuple[str, str]] = []
        if result.outcome is Outcome.WRITTEN:
            self.metrics.write_latency.observe(time.monotonic() - t0)
        elif result.outcome is Outcome.REJECTED:
            # The refused lines alone; if the store goes away meanwhile, the whole batch goes to the spool.
            iso = isolate_rejected(self.writer, batch.lines, result)
            result, rejected = iso.result, iso.rejected
        if result.outcome is Outcome.WRITTEN:
            dead += self._rejected_lines("influx:write", rejected)
            return None, len(batch.lines) - len(rejected)
        self.metrics.inc("influx_errors")
        self.last_error = f"InfluxDB unavailable: {result.status or ''} {result.detail}".strip()
        self._spool_retry_at = time.monotonic() + self._spool_backoff
        return body, 0

    def _count_flushed(self, batch: Batch, written: int, dead: list[DeadLetter]) -> None:
        now_ms = time.time() * 1000
        for ts in batch.device_ts_ms:
            self.metrics.ingest_delay.observe(max(0.0, (now_ms - ts) / 1000))
        m = self.metrics
        m.inc("points_written", written)
        m.inc("dead_letters", len(dead))
        self._prune_dead_letters(len(dead))
        m.inc("duplicates", batch.duplicates)
        m.inc("readings_received", batch.readings)
        m.inc("messages_received", batch.messages)
        m.inc("future_timestamps", batch.future_ts)
        m.inc("stale_timestamps", batch.stale_ts)
        m.inc("readings_refused", batch.refused_readings)
        m.inc("readings_repeated", batch.repeated_readings)
        m.inc("reading_time_conflicts", batch.time_conflicts)
        m.inc("readings_late_unchecked", batch.unchecked_late)
        m.inc("readings_revised", batch.revisions)
        for check, n in batch.flagged.items():
            m.inc("readings_flagged", n)
            self.flagged_by_check[check] = self.flagged_by_check.get(check, 0) + n
        if batch.messages:
            m.inc("batches_flushed")

    def submit(self, lines: list[str], job: Callable[[], list[str]] | None = None) -> None:
        """Store ``lines`` and run ``job`` (engine work returning its lines) on the writer thread; from any thread.

        For the periodic jobs: what they computed off the ingest path is stored like a batch of readings (spooled
        while InfluxDB is away), and their alarms go through the engine one batch at a time."""
        batch = Batch(lines=list(lines))
        if job is not None:
            batch.jobs.append(job)
        self._queue.put(batch)

    def _qc_metric_lines(self) -> list[str]:
        lines = [
            "# HELP iocgw_hub_readings_qc_total Readings flagged by the hub's quality control, by failed check",
            "# TYPE iocgw_hub_readings_qc_total counter",
        ]
        for check, n in sorted(dict(self.flagged_by_check).items()):
            lines.append(f'iocgw_hub_readings_qc_total{{check="{check}"}} {n}')
        return lines

    def _ack_nodes(self, batch: Batch) -> None:
        if not self.connected:
            return  # nodes resend after their confirm timeout; the duplicates are dropped
        now = datetime.now(UTC)
        for node_id, seqs in batch.node_seqs.items():
            ranges = to_ranges(seqs)
            for i in range(0, len(ranges), 10_000):
                ack = AckMessage(node_id=node_id, ts=now, ranges=ranges[i : i + 10_000])
                self.client.publish(self.topics.ack(node_id), ack.model_dump_json().encode(), qos=1)
                self.metrics.inc("acks_sent")

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        """Hub-to-node messages (desired configs); False while disconnected (on_connected hooks send them later)."""
        if not self.connected:
            return False
        return self.client.publish(topic, payload, qos=qos, retain=retain).rc == mqtt.MQTT_ERR_SUCCESS

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        m = self.config.mqtt
        self._writer_thread.start()
        self.client.connect_async(
            m.host, m.port, m.keepalive_s, clean_start=False, properties=self._connect_properties()
        )
        self.client.loop_start()

    def stop(self) -> None:
        """Leave the broker first, then flush: what arrives after this is not acknowledged and comes back later."""
        self._stopping.set()
        self.client.disconnect()
        self.client.loop_stop()  # the writer keeps draining, so a network thread blocked on the queue gets free
        self._writer_thread.join(timeout=60)
        self.writer.close()

    def health(self) -> dict[str, object]:
        return {
            "mqtt_connected": self.connected,
            "spool_batches": self._spool_batches,
            "spool_lines": self._spool_lines,
            "spool_bytes": self._spool_bytes,
            "spool_full": self._spool_full,
            "last_flush_age_s": round(time.time() - self.last_flush, 3),
            "last_error": self.last_error,
        }
