"""The node's MQTT link: sends the outbox in order and removes what is confirmed.

Each connection uses a fresh paho client, so nothing paho keeps in memory outlives a connection: after any
reconnect the outbox is sent again from its oldest message, and the hub drops the duplicates by sequence number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from pydantic import ValidationError

from edge.outbox import Outbox, OutboxRow
from wire import AckMessage, Topics
from wire.nodeconfig import Confirm, MqttSettings

log = logging.getLogger(__name__)


def _packet_size(row: OutboxRow) -> int:
    """An MQTT 5 PUBLISH's size: fixed header (up to 5), topic (2 + length), packet id (2), properties (1)."""
    return 5 + 2 + len(row.topic.encode()) + (2 if row.qos else 0) + 1 + len(row.payload)


@dataclass
class _Connection:
    """What the pump keeps for one connection."""

    resend_after: float  # seconds without the hub's ack before the unconfirmed go again; doubles per resend
    connack_deadline: float  # monotonic
    inflight: dict[int, int] = field(default_factory=dict)  # paho mid -> seq, waiting for PUBACK
    unconfirmed: OrderedDict[int, float] = field(default_factory=OrderedDict)  # seq -> sent time, for the hub's ack
    cursor: int = 0  # highest seq sent on this connection
    got_connack: bool = False
    drain_deadline: float | None = None  # monotonic; set once the node is stopping


class Link:
    """Lifecycle: ``await run(stop)``; ``set_offline()`` to force the link down (tests, simulated link loss)."""

    def __init__(
        self,
        node_id: str,
        settings: MqttSettings,
        outbox: Outbox,
        *,
        confirm: Confirm = Confirm.HUB,
        confirm_timeout_s: float = 60.0,
        max_unconfirmed: int = 20_000,
        will_payload: Callable[[int], bytes] | None = None,
        on_config: Callable[[bytes], None] | None = None,
        on_actuate: Callable[[bytes], None] | None = None,
        on_connected: Callable[[], None] | None = None,
        goodbye_payload: Callable[[int], bytes] | None = None,
        drain_s: float = 0.0,
    ) -> None:
        self.node_id = node_id
        self.settings = settings
        self.outbox = outbox
        self.topics = Topics(settings.prefix)
        self.confirm = confirm
        self.confirm_timeout_s = confirm_timeout_s
        self.max_unconfirmed = max_unconfirmed
        self.will_payload = will_payload
        self.on_config = on_config
        self.on_actuate = on_actuate
        self.on_connected = on_connected
        self.goodbye_payload = goodbye_payload
        self.drain_s = drain_s
        self.connected = False
        self.last_error: str | None = None
        self.counters = {
            "connects": 0,
            "failed_attempts": 0,
            "sent": 0,
            "confirmed": 0,
            "resends": 0,
            "refused": 0,
            "bad_acks": 0,
            "oversize": 0,  # messages set aside: larger than the broker accepts
        }
        self._broker_max_packet: int | None = None  # announced in the broker's CONNACK (MQTT 5)
        self._offline = False
        self._snapshot_prefix = f"{self.topics.root}/{node_id}/snapshot/"
        self._broker_only: set[int] = set()  # seqs in flight that only the broker confirms
        self._reconnect = False
        self._ended_by_us = False  # the last connection ended with our DISCONNECT, so the broker dropped the will
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._events: list[tuple[str, Any]] = []  # filled from paho's thread, drained on the loop
        # The last will armed with the broker: (seq, payload). Kept across attempts that never got a CONNACK, so
        # a failed attempt leaves no hole in the node's sequence; a clean stop sends its number as the goodbye.
        self._will: tuple[int, bytes] | None = None

    # -- control ------------------------------------------------------------------------------------------
    def set_offline(self, offline: bool) -> None:
        self._offline = offline
        self.kick()

    def update_settings(self, settings: MqttSettings) -> None:
        """New broker settings (a remote configuration): the current connection ends cleanly, the next uses them."""
        self.settings = settings
        self._reconnect = True
        self.kick()

    def kick(self) -> None:
        """Wake the sender (new message in the outbox)."""
        self._wake.set()

    def publish_now(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        """Send outside the outbox (latest-wins data such as status); False when not connected."""
        client = self._client
        if client is None or not self.connected:
            return False
        return client.publish(topic, payload, qos=qos, retain=retain).rc == mqtt.MQTT_ERR_SUCCESS

    # -- paho callbacks (paho's thread) -------------------------------------------------------------------
    def _post(self, kind: str, value: Any) -> None:
        self._events.append((kind, value))  # list.append is atomic under the GIL
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        announced = getattr(props, "MaximumPacketSize", None) if props is not None else None
        self._broker_max_packet = int(announced) if announced else None
        self._post("connack", rc)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self._post("disconnect", rc)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        self._post("puback", (mid, rc))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._post("message", (msg.topic, msg.payload))

    # -- the connection loop ------------------------------------------------------------------------------
    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.node_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        client.max_inflight_messages_set(self.settings.window)
        client.max_queued_messages_set(0)
        if self.settings.tls is not None:
            # Verifies the broker's certificate and host name; the client certificate is this node's identity.
            client.tls_set(**self.settings.tls.tls_set_kwargs())
        if self.will_payload is not None:
            if self._will is None:
                seq = self.outbox.allocate_seq()
                self._will = (seq, self.will_payload(seq))
            client.will_set(self.topics.status(self.node_id), self._will[1], qos=1, retain=True)
        if self.settings.username:
            password = None
            if self.settings.password_file:
                password = self.settings.password_file.read_text(encoding="utf-8").strip()
            client.username_pw_set(self.settings.username, password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        delay = self.settings.reconnect_min_s
        stop_waiter = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                if self._offline:
                    await self._idle(stop_waiter, 1.0)
                    continue
                ok = await self._one_connection(stop, stop_waiter)
                if stop.is_set():
                    break
                delay = self.settings.reconnect_min_s if ok else min(delay * 2, self.settings.reconnect_max_s)
                await self._idle(stop_waiter, delay * random.uniform(0.8, 1.2))
        finally:
            stop_waiter.cancel()

    async def _idle(self, stop_waiter: asyncio.Future[Any], seconds: float) -> None:
        self._wake.clear()
        wake = asyncio.ensure_future(self._wake.wait())
        await asyncio.wait({stop_waiter, wake}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        wake.cancel()

    async def _one_connection(self, stop: asyncio.Event, stop_waiter: asyncio.Future[Any]) -> bool:
        """Connect, pump the outbox until the connection ends; True if it got as far as CONNACK."""
        try:
            client = self._new_client()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError: a missing or unreadable cert or key
            # Counted as a failed attempt and retried with backoff: a technician may still be copying the files.
            tls = self.settings.tls
            files = (
                "" if tls is None else f" (TLS files: {', '.join(str(v) for v in tls.tls_set_kwargs().values() if v)})"
            )
            self.last_error = f"cannot set up the connection{files}: {exc}"
            log.warning(self.last_error)
            self.counters["failed_attempts"] += 1
            return False
        self._events.clear()
        try:
            await asyncio.wait_for(
                asyncio.to_thread(client.connect, self.settings.host, self.settings.port, self.settings.keepalive_s),
                timeout=10,
            )
        except (OSError, TimeoutError, mqtt.WebsocketConnectionError) as exc:
            self.last_error = f"connect to {self.settings.host}:{self.settings.port} failed: {exc}"
            log.debug(self.last_error)
            self.counters["failed_attempts"] += 1
            return False
        client.loop_start()
        self._client = client
        got_connack = False
        try:
            got_connack = await self._pump(client, stop, stop_waiter)
        finally:
            self.connected = False
            self._client = None
            if got_connack and (stop.is_set() or not self._ended_by_us):
                # After a lost connection the broker may have published the will: never reuse its number. A clean
                # stop spends it on the goodbye. A connection we ended ourselves keeps it for the next one.
                will, self._will = self._will, None
                if stop.is_set() and will is not None:
                    self._say_goodbye(client, will[0])
            with contextlib.suppress(Exception):
                client.disconnect()
            await asyncio.to_thread(client.loop_stop)
        return got_connack

    def _say_goodbye(self, client: mqtt.Client, seq: int) -> None:
        # Same number as the armed will: a clean DISCONNECT discards the will, so that number would otherwise be
        # a hole; and if the DISCONNECT never arrives, the hub drops the will as a duplicate of the goodbye.
        if self.goodbye_payload is not None:
            info = client.publish(self.topics.status(self.node_id), self.goodbye_payload(seq), qos=1, retain=True)
            with contextlib.suppress(Exception):
                info.wait_for_publish(timeout=2)

    async def _pump(self, client: mqtt.Client, stop: asyncio.Event, stop_waiter: asyncio.Future[Any]) -> bool:
        c = _Connection(resend_after=self.confirm_timeout_s, connack_deadline=time.monotonic() + 15)
        self._broker_only.clear()  # PUBACKs of an earlier connection never come; _fill marks them again
        self._ended_by_us = True
        while not self._offline:
            if self._reconnect:
                self._reconnect = False
                break
            if stop.is_set() and self._drained(c):
                break
            ended = self._take_events(client, c)
            if ended is not None:
                return ended
            if not c.got_connack:
                if time.monotonic() > c.connack_deadline:
                    self.last_error = "no CONNACK from the broker within 15 s"
                    return False
            else:
                self._send(client, c)
            self._wake.clear()
            if self._events:
                continue
            await self._wait(c, stop, stop_waiter)
        return c.got_connack

    def _drained(self, c: _Connection) -> bool:
        """Whether a stopping node may end the connection now."""
        # A clean stop first tries, for a bounded time, to get the outbox confirmed, so a node that is stopped for
        # maintenance leaves nothing behind while its link works.
        if c.drain_deadline is None:
            c.drain_deadline = time.monotonic() + self.drain_s
        return not c.got_connack or self.outbox.depth == 0 or time.monotonic() >= c.drain_deadline

    def _take_events(self, client: mqtt.Client, c: _Connection) -> bool | None:
        """Act on what paho reported since the last round: None while the connection lasts; once it has ended,
        what ``_pump`` returns."""
        to_remove: list[int] = []
        ranges: list[tuple[int, int]] = []
        events, self._events = self._events, []
        for kind, value in events:
            if kind == "connack":
                if value.is_failure:
                    self.last_error = f"broker refused the connection: {value}"
                    return False
                self._connack(client, c)
            elif kind == "disconnect":
                self.last_error = f"disconnected: {value}"
                self._ended_by_us = False
                return c.got_connack
            elif kind == "puback":
                mid, rc = value
                self._puback(c, mid, rc, to_remove)
            elif kind == "message":
                ranges.extend(self._handle_incoming(*value))
        self._confirmed(c, to_remove, ranges)
        return None

    def _connack(self, client: mqtt.Client, c: _Connection) -> None:
        c.got_connack = True
        self.connected = True
        self.last_error = None  # connected again: the outage is over, and so is its error
        self.counters["connects"] += 1
        topics = [(self.topics.config(self.node_id), 1), (self.topics.ack(self.node_id), 1)]
        if self.on_actuate is not None:
            topics.append((self.topics.actuate(self.node_id), 1))
        client.subscribe(topics)
        if self.on_connected is not None:
            self.on_connected()

    def _puback(self, c: _Connection, mid: int, rc: Any, to_remove: list[int]) -> None:
        seq = c.inflight.pop(mid, None)
        if seq is None:
            return
        if rc.is_failure:
            # Kept in the outbox; it goes again after the next reconnect.
            self.counters["refused"] += 1
            self.last_error = f"broker refused message {seq}: {rc}"
        elif self.confirm is Confirm.BROKER or seq in self._broker_only:
            # Snapshots carry no sequence number, so the hub never acks them: the broker's PUBACK is the end of
            # their road (the retained latest per camera and label is what matters).
            self._broker_only.discard(seq)
            to_remove.append(seq)
        else:
            c.unconfirmed[seq] = time.monotonic()

    def _confirmed(self, c: _Connection, to_remove: list[int], ranges: list[tuple[int, int]]) -> None:
        """Remove from the outbox what the broker (``to_remove``) or the hub (``ranges``) confirmed."""
        if to_remove:
            self.counters["confirmed"] += self.outbox.remove(to_remove)
        if ranges:
            self.counters["confirmed"] += self.outbox.remove_ranges(ranges)
            for lo, hi in ranges:
                for seq in [s for s in c.unconfirmed if lo <= s <= hi]:
                    del c.unconfirmed[seq]
            c.resend_after = self.confirm_timeout_s

    def _send(self, client: mqtt.Client, c: _Connection) -> None:
        if c.unconfirmed and not c.inflight:
            oldest = next(iter(c.unconfirmed.values()))
            if time.monotonic() - oldest > c.resend_after:
                # The hub has not confirmed: the broker may have lost them. Send again from the start, backing off
                # so a hub that is merely down does not fill the broker with copies.
                self.counters["resends"] += len(c.unconfirmed)
                c.unconfirmed.clear()
                c.cursor = 0
                c.resend_after = min(c.resend_after * 2, 3600)
        c.cursor = self._fill(client, c.inflight, c.unconfirmed, c.cursor)

    async def _wait(self, c: _Connection, stop: asyncio.Event, stop_waiter: asyncio.Future[Any]) -> None:
        """Sleep until paho reports something, new data is queued, or the node stops (at most 1 s, or until the
        drain deadline)."""
        wake = asyncio.ensure_future(self._wake.wait())
        waiters: set[asyncio.Future[Any]] = {wake} if stop.is_set() else {stop_waiter, wake}
        timeout = 1.0 if c.drain_deadline is None else max(0.0, min(1.0, c.drain_deadline - time.monotonic()))
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        wake.cancel()

    def _fill(
        self, client: mqtt.Client, inflight: dict[int, int], unconfirmed: OrderedDict[int, float], cursor: int
    ) -> int:
        room = self.settings.window - len(inflight)
        if self.confirm is Confirm.HUB:
            room = min(room, self.max_unconfirmed - len(unconfirmed) - len(inflight))
        if room <= 0:
            return cursor
        for row in self.outbox.after(cursor, room):
            if (size := _packet_size(row)) > self.max_packet_bytes:
                # Sent, it would make the broker drop the connection, and the node would send it again after
                # every reconnect, forever, with everything behind it waiting.
                reason = f"{size} bytes: over the broker's maximum packet size of {self.max_packet_bytes}"
                self.outbox.set_aside(row, reason)
                self.counters["oversize"] += 1
                self.last_error = f"message {row.seq} on {row.topic} set aside: {reason}"
                log.error(self.last_error)
                cursor = row.seq
                continue
            info = client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self.last_error = f"publish failed: {mqtt.error_string(info.rc)}"
                break
            inflight[info.mid] = row.seq
            if row.topic.startswith(self._snapshot_prefix):
                self._broker_only.add(row.seq)
            cursor = row.seq
            self.counters["sent"] += 1
        return cursor

    @property
    def max_packet_bytes(self) -> int:
        announced = self._broker_max_packet
        return min(self.settings.max_packet_bytes, announced) if announced else self.settings.max_packet_bytes

    def _handle_incoming(self, topic: str, payload: bytes) -> list[tuple[int, int]]:
        if topic == self.topics.ack(self.node_id):
            try:
                ack = AckMessage.model_validate_json(payload)
            except ValidationError as exc:
                self.counters["bad_acks"] += 1
                self.last_error = f"bad ack from hub: {exc.error_count()} errors"
                return []
            return [(lo, hi) for lo, hi in ack.ranges]
        if topic == self.topics.config(self.node_id) and self.on_config is not None:
            try:
                self.on_config(payload)
            except Exception as exc:  # a bad config must never take the link down
                self.last_error = f"config handler failed: {exc}"
                log.exception("config handler failed")
        if topic == self.topics.actuate(self.node_id) and self.on_actuate is not None:
            try:
                self.on_actuate(payload)
            except Exception as exc:  # nor may a bad command
                self.last_error = f"actuate handler failed: {exc}"
                log.exception("actuate handler failed")
        return []
