"""The alert leader's own ordered feed: every node's telemetry, statuses and events, acknowledged after commit.

Design (iii) of docs/scaling-alerts-design.md (issue 17). Ingest stays on the shared subscription; the one hub that
leads the alert engine (hub/alerts/leader.py) reads the full stream of every node through an MQTT session of its
own: a fixed client id shared by every hub that may lead (``iocgw-alerts-<group>``), ``clean_start=False`` and a long
session expiry, NON-shared QoS 1 subscriptions. The broker keeps what this session has not acknowledged while the
leadership changes hands, and the next leader, connecting with the same client id, gets exactly those messages.

``AlertSource(settings, client_id, on_batch, processor=..., seen=...)``:

- each message is decoded and validated by the ingest's own code (``Processor.decode`` / ``Processor.accept``,
  hub/ingest/processor.py: the same schema, registry, time policy, dedupe and quality control, so the engine gets
  the observations ingest would hand it on a single hub);
- a message the processor's sequence trackers have seen (a repeat; the cluster leader seeds them with
  ``PgAlertStore.dedupe_state()``, what its predecessors evaluated, and commits ``AlertBatch.dedupe`` with each
  batch) or whose ``(node, seq)`` the optional ``seen`` says was evaluated is acknowledged without being passed on;
  so is a message ingest dead-letters (counted: ingest has kept it already);
- messages are grouped into batches of at most ``max_messages`` or ``max_delay_s`` and handed to ``on_batch`` in a
  worker thread (``alert-source``), one at a time, in arrival order (so each node's messages in their order);
- a batch's MQTT messages are acknowledged (manual acks) only after ``on_batch`` returned normally: the caller
  commits inside it. If ``on_batch`` raises, nothing of that batch or later is acknowledged and the source stops;
- ``stop()`` leaves the broker without acknowledging anything not yet committed; the broker keeps it;
- MQTT v5 reason 0x8E, "session taken over" (another client connected with this client id: the next leader), stops
  the source for good: it never reconnects, so it never fights the new owner for the session. Mosquitto 2.0.11
  does not send that DISCONNECT: it closes the old connection, which looks like any lost connection. So a lost
  connection stops the source too, unless ``reconnect()`` (e.g. the leadership's ``is_leader``) says it may
  resume the session, asked at the loss, before each retry and again once connected; a resumed session gets what
  was unacknowledged again, and the copy is dropped as a duplicate once its first one is committed.

The source stopping on its own (``stopped`` is set, ``stop_reason`` says why, ``on_stop`` is called) means the
leader must hand over or start a fresh source: a source is not restarted.

Threads: paho's network thread (``alert-source-mqtt``) decodes and batches; a full batch goes on a bounded queue,
so a slow ``on_batch`` stops the reading and the broker stops at this session's receive maximum; the worker thread
calls ``on_batch`` and acknowledges. ``seen`` is called on the network thread.

A reading quality control holds back as a possible spike (Processor's held observations) is released in a later
batch than its message's, which is acknowledged with the first: so each batch carries the held readings
(``AlertBatch.held``), for the caller to commit with it and give to the next leader's processor
(``Processor.restore_held``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from hub.alerts.evaluate.base import Observation
from hub.broker_client import subscriber_client
from hub.config import HubMqtt
from hub.ingest.processor import Batch, Processor
from wire import Channel, EventMessage, Topics

log = logging.getLogger(__name__)

SESSION_TAKEN_OVER = 0x8E
# What the broker keeps for the alert session while no leader is connected; as long as the shipped broker's
# persistent_client_expiration (hub/provision/mosquitto_conf.py).
DEFAULT_SESSION_EXPIRY_S = 7 * 86_400


@dataclass
class AlertBatch:
    """What the engine needs from a group of messages, in arrival order."""

    observations: list[Observation] = field(default_factory=list)
    status_changes: list[tuple[str, str, datetime]] = field(default_factory=list)
    events: list[EventMessage] = field(default_factory=list)
    sensor_seen: dict[tuple[str, str], float] = field(default_factory=dict)  # engine.process(seen=...)
    node_seq: dict[str, int] = field(default_factory=dict)  # highest seq passed on per node: commit it with the batch
    # The processor's sequence trackers of the nodes in this batch, as of its cut: commit them with the batch, and
    # give them to the next leader's processor (Processor(dedupe_state=...)), which then drops what was evaluated
    dedupe: dict[str, tuple[int, list[int]]] = field(default_factory=dict)
    # The readings the processor holds back as possible spikes after this batch (Processor.held_state): their
    # messages are acknowledged with it, so the leader commits them with it for the next leader to hold again
    held: list[dict[str, Any]] = field(default_factory=list)
    # (node, seq) of the messages passed on (not seen, not a duplicate, the topic's own node), in arrival order
    messages: list[tuple[str, int]] = field(default_factory=list)
    # The processor's quality lines (reading_fields "quality"): the leader stores them with the batch's commit
    lines: list[str] = field(default_factory=list)
    dead_letters: int = 0  # messages (or readings of them) ingest's validation refused
    duplicates: int = 0  # messages already passed on in this session


@dataclass
class _Open:
    """The batch being filled on the network thread."""

    batch: Batch = field(default_factory=Batch)
    mids: list[tuple[int, int]] = field(default_factory=list)  # (connection generation, mid)
    messages: list[tuple[str, int]] = field(default_factory=list)


class AlertSource:
    """Lifecycle: ``start()``, then ``stop()``; one use only (a new leader makes a new source and processor)."""

    def __init__(
        self,
        settings: HubMqtt,
        client_id: str,
        on_batch: Callable[[AlertBatch], None],
        *,
        processor: Processor,
        seen: Callable[[str, int], bool] | None = None,
        max_messages: int = 500,
        max_delay_s: float = 0.1,
        session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
        queue_batches: int = 2,
        on_stop: Callable[[str], None] | None = None,
        reconnect: Callable[[], bool] | None = None,
    ) -> None:
        if processor.topics.prefix != settings.prefix:
            raise ValueError(f"processor topics under {processor.topics.prefix!r}, MQTT prefix {settings.prefix!r}")
        self.settings = settings
        self.client_id = client_id
        self.on_batch = on_batch
        self.processor = processor
        self.seen = seen
        # The broker stops at the receive maximum of unacknowledged messages: a batch must close before that.
        self.max_messages = max(1, min(max_messages, settings.receive_maximum // 2))
        self.max_delay_s = max_delay_s
        self.session_expiry_s = session_expiry_s
        self.on_stop = on_stop
        self.reconnect = reconnect
        self.topics = Topics(settings.prefix)
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "received",
                "passed",
                "skipped_seen",
                "dead_letters",
                "duplicates",
                "batches",
                "acked",
                "connects",
                "disconnects",
                "sessions_lost",
            ),
            0,
        )
        self.session_present: bool | None = None
        self.stop_reason: str | None = None
        self.error: BaseException | None = None
        self.subscribed = threading.Event()  # set once the subscriptions of the first connection are granted
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._open = _Open()
        self._queue: queue.Queue[tuple[AlertBatch, list[tuple[int, int]]]] = queue.Queue(maxsize=queue_batches)
        self._generation = 0
        self._connected = False
        self._started = False
        self._worker = threading.Thread(target=self._work, name="alert-source", daemon=True)
        self._network: threading.Thread | None = None  # paho's loop thread, as seen from its first callback
        self.client = self._make_client()

    # -- MQTT -----------------------------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        client = subscriber_client(self.settings, self.client_id)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_pre_connect = self._on_pre_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def subscriptions(self) -> list[str]:
        """Every node's telemetry, statuses and events: non-shared, so this session gets each message."""
        return [self.topics.all_of(c) for c in (Channel.TELEMETRY, Channel.STATUS, Channel.EVENT)]

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        self._network = threading.current_thread()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            log.error("alert source %s: broker refused the connection: %s", self.client_id, rc)
            return
        if self._generation and not self._may_reconnect():
            # Too late not to take the session (this connection has it now), but give it back at once.
            client.disconnect()
            self._end("reconnected after reconnect() turned false; left again")
            return
        with self._lock:
            # Message ids of an earlier connection mean nothing on this one; the broker resends those messages.
            self._generation += 1
            self._connected = True
            first = self._generation == 1
            self.stats["connects"] += 1
        self.session_present = bool(flags.session_present)
        if not first and not flags.session_present:
            self.stats["sessions_lost"] += 1
            log.warning("alert source %s: the broker no longer had this session; messages may be lost", self.client_id)
        # Retained statuses only when a subscription is new: a resumed session has had them.
        opts = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        client.subscribe([(t, opts) for t in self.subscriptions()])
        log.info("alert source %s connected (session present: %s)", self.client_id, flags.session_present)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any) -> None:
        refused = [rc for rc in rcs if rc.is_failure]
        if refused:
            self._end(f"broker refused the subscriptions: {refused}")
            return
        self.subscribed.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        with self._lock:
            self._connected = False
            self.stats["disconnects"] += 1
        if self.stopped.is_set():
            return
        if getattr(rc, "value", None) == SESSION_TAKEN_OVER:
            # The next leader has the session. Leave paho's loop for good: a reconnect would take the session back.
            client.disconnect()
            self._end("session taken over by another client with the same client id")
        elif not self._may_reconnect():
            client.disconnect()
            self._end(f"connection lost ({rc}); not reconnecting: another client with this id may have the session")
        else:
            log.warning("alert source %s disconnected (%s); reconnecting", self.client_id, rc)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if self._generation and not self.stopped.is_set() and not self._may_reconnect():
            client.disconnect()
            self._end("could not reconnect, and reconnect() turned false")

    def _may_reconnect(self) -> bool:
        if self.reconnect is None:
            return False
        try:
            return bool(self.reconnect())
        except Exception:
            log.exception("alert source: reconnect() failed")
            return False

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self.stopped.is_set():
            return  # not acknowledged: the broker keeps it for the session's next owner
        payload = msg.payload if isinstance(msg.payload, bytes) else bytes(msg.payload)
        full: tuple[AlertBatch, list[tuple[int, int]]] | None = None
        with self._lock:
            self.stats["received"] += 1
            self._add(msg.topic, payload)
            if msg.qos > 0:
                self._open.mids.append((self._generation, msg.mid))
            if len(self._open.mids) >= self.max_messages:
                full = self._cut()
        if full is not None:
            while not self.stopped.is_set():
                try:
                    self._queue.put(full, timeout=0.1)  # waits while on_batch is behind: back-pressure
                    break
                except queue.Full:
                    continue

    def _add(self, topic: str, payload: bytes) -> None:
        """One message into the open batch (caller holds the lock)."""
        o = self._open
        o.batch.messages += 1
        try:
            decoded = self.processor.decode(topic, payload, o.batch)
            if decoded is None:
                return  # dead-lettered by ingest's rules (counted at the cut) or not ours
            parts, message = decoded
            if self.seen is not None and self.seen(message.node_id, message.seq):
                self.stats["skipped_seen"] += 1
                return
            duplicates = o.batch.duplicates
            self.processor.accept(parts, message, topic, payload, o.batch)
            # A node_id other than the topic's is dead-lettered by accept, and must not move that other node's seq.
            if message.node_id == parts.node_id and o.batch.duplicates == duplicates:
                o.messages.append((message.node_id, message.seq))
        except Exception:  # a bug must not stop the feed; ingest keeps the message as a dead letter
            log.exception("alert source: processing a message on %s failed", topic)
            self.stats["dead_letters"] += 1

    def _cut(self) -> tuple[AlertBatch, list[tuple[int, int]]]:
        """Close the open batch (caller holds the lock)."""
        o, self._open = self._open, _Open()
        b = o.batch
        self.processor.release_held(b)
        node_seq: dict[str, int] = {}
        for node, seq in o.messages:
            if seq > node_seq.get(node, -1):
                node_seq[node] = seq
        out = AlertBatch(
            observations=b.observations,
            status_changes=b.status_changes,
            events=b.events,
            sensor_seen={k: ts for k, (ts, _) in b.sensor_values.items()},
            node_seq=node_seq,
            dedupe=self.processor.dedupe_state(b.dedupe_dirty),
            held=self.processor.held_state(),
            messages=o.messages,
            lines=b.qc_lines,
            dead_letters=len(b.dead_letters),
            duplicates=b.duplicates,
        )
        self.stats["dead_letters"] += out.dead_letters
        self.stats["duplicates"] += out.duplicates
        return out, o.mids

    def _take_if_due(self) -> tuple[AlertBatch, list[tuple[int, int]]] | None:
        with self._lock:
            if self._open.batch.messages and time.monotonic() - self._open.batch.created >= self.max_delay_s:
                return self._cut()
            if self.processor.held_due():
                # A reading held as a possible spike whose window ended with no later message: released now, as
                # the single hub's writer does on its idle ticks, or the engine would never see it.
                return self._cut()
        return None

    # -- worker ---------------------------------------------------------------------------------------------
    def _work(self) -> None:
        while not self.stopped.is_set():
            item: tuple[AlertBatch, list[tuple[int, int]]] | None
            try:
                item = self._queue.get(timeout=min(self.max_delay_s, 0.05))
            except queue.Empty:
                item = self._take_if_due()
            if item is None or self.stopped.is_set():
                continue
            batch, mids = item
            if batch.messages or batch.observations or batch.status_changes or batch.events or batch.lines:
                try:
                    self.on_batch(batch)
                except BaseException as exc:
                    log.exception("alert source %s: on_batch failed; stopping without acknowledging", self.client_id)
                    self._end(f"on_batch failed: {exc!r}", exc)
                    return
                with self._lock:
                    self.stats["batches"] += 1
                    self.stats["passed"] += len(batch.messages)
            self._ack(mids)

    def _ack(self, mids: list[tuple[int, int]]) -> None:
        """Acknowledge what the caller has committed, on the connection that received it."""
        with self._lock:
            if self.stopped.is_set() or not self._connected:
                return  # the session keeps them; the next connection gets them again (then skipped or dropped)
            generation = self._generation
            n = 0
            for gen, mid in mids:
                if gen == generation:
                    self.client.ack(mid, 1)
                    n += 1
            self.stats["acked"] += n

    # -- lifecycle ------------------------------------------------------------------------------------------
    def _end(self, reason: str, error: BaseException | None = None) -> None:
        """Stop taking messages and leave the broker; idempotent. Nothing more is acknowledged."""
        with self._lock:
            if self.stopped.is_set():
                return
            self.stop_reason = reason
            self.error = error
            self.stopped.set()
        # Leave the broker, and paho's loop for good: called on the loop's own thread (a lost connection), this only
        # marks it to end, so paho does not reconnect; from any other thread it waits for the loop to end.
        self.client.disconnect()
        self.client.loop_stop()
        if reason != "stopped":
            log.warning("alert source %s stopped: %s", self.client_id, reason)
        if self.on_stop is not None:
            try:
                self.on_stop(reason)
            except Exception:
                log.exception("alert source: on_stop failed")

    def start(self) -> None:
        if self._started:
            raise RuntimeError("an AlertSource is started once; make a new one")
        self._started = True
        m = self.settings
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = m.receive_maximum
        self.client.connect_async(m.host, m.port, m.keepalive_s, clean_start=False, properties=props)
        self._worker.start()
        self.client.loop_start()

    def stop(self, timeout: float = 10.0) -> None:
        """Leave the broker without acknowledging what is not committed; wait for a running ``on_batch`` to end."""
        self._end("stopped")
        if self._worker.is_alive() and self._worker is not threading.current_thread():
            self._worker.join(timeout)

    def wait_closed(self, timeout: float | None = None) -> bool:
        """True once the source has stopped and paho's loop has ended: it can no longer connect."""
        if not self.stopped.wait(timeout):
            return False
        t = self._network
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        return t is None or not t.is_alive()

    @property
    def connected(self) -> bool:
        return self._connected
