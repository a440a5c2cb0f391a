"""MQTT target: each alarm's latest state, retained, at ``<prefix>/alerts/v1/<rule>/<subject>``.

A display board or another system subscribes to ``<prefix>/alerts/v1/#`` and at once gets the current state of
every subject the hub has raised an alarm for (cleared ones included), then every change. Messages go out at
QoS 1 and a send returns only after the broker's PUBACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import Field, field_validator, model_validator

from hub.alerts.notify.base import Notification, Notifier, NotifierConfig, NotifyError
from hub.alerts.notify.registry import register_notifier
from hub.broker_client import broker_client, connect
from hub.secret import Secret
from wire.topics import TOPIC_VERSION

log = logging.getLogger(__name__)

# PUBACK reason codes (MQTT v5 3.4.2.1) worth trying again: unspecified, implementation specific, packet id in use,
# quota exceeded. Not authorized, topic name invalid and payload format invalid will fail the same way again.
_RETRYABLE_PUBACK = frozenset({0x80, 0x83, 0x91, 0x97})


def _check_level_text(what: str, text: str) -> str:
    if not text:
        raise ValueError(f"{what} is empty")
    bad = sorted({c for c in text if c in "+#\x00"})
    if bad:
        raise ValueError(f"{what} {text!r} contains {' '.join(map(repr, bad))}, not allowed in an MQTT topic name")
    if any(not level for level in text.split("/")):
        raise ValueError(f"{what} {text!r} has an empty topic level")
    return text


def alert_topic(prefix: str, rule: str, subject: str) -> str:
    """``<prefix>/alerts/v1/<rule>/<subject>``; ValueError for wildcards, NUL, empty levels or a '/' in the rule."""
    if "/" in rule:
        raise ValueError(f"rule {rule!r} contains '/'")
    return f"{prefix}/alerts/{TOPIC_VERSION}/{_check_level_text('rule', rule)}/{_check_level_text('subject', subject)}"


def alerts_filter(prefix: str) -> str:
    """The subscription that receives every alarm's state."""
    return f"{prefix}/alerts/{TOPIC_VERSION}/#"


class MqttTargetConfig(NotifierConfig):
    """Which broker, how to log in, and the topic prefix."""

    type: Literal["mqtt"] = "mqtt"
    host: str = Field("127.0.0.1", description="Broker host")
    port: int = Field(1883, ge=1, le=65535, description="Broker port")
    prefix: str = Field("iocgw", description="First topic levels, before /alerts/v1/")
    client_id: str | None = Field(None, description="Default: iocgw-notify-<name>-<random>, unique per process")
    username: str | None = Field(None, description="Broker user name")
    password: Secret | None = Field(None, description="Broker password")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive")
    tls: bool = Field(False, description="Connect with TLS")
    ca_file: Path | None = Field(None, description="CA bundle for TLS; default: the system's")
    cert_file: Path | None = Field(
        None, description="This notifier's client certificate (iocgw provision hub NAME): its CN is its identity"
    )
    key_file: Path | None = Field(None, description="This notifier's private key (mode 0600)")
    retain: bool = Field(True, description="Retain each message, so a new subscriber sees the current state")

    @field_validator("prefix")
    @classmethod
    def _valid_prefix(cls, prefix: str) -> str:
        _check_level_text("prefix", prefix)
        if prefix.startswith("$"):
            raise ValueError("prefix must not start with '$' (reserved for broker topics)")
        return prefix

    @model_validator(mode="after")
    def _client_pair(self) -> MqttTargetConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file, or neither")
        if self.cert_file is not None and not self.tls:
            raise ValueError("cert_file and key_file need tls: true")
        return self


@register_notifier("mqtt", MqttTargetConfig)
class MqttNotifier(Notifier):
    """Its own paho client (MQTT v5, network loop in paho's thread), replaced after any failed publish.

    A fresh client after a failure matters for order: paho would otherwise resend the failed message by itself on
    reconnect, possibly after a newer state of the same subject, and the retained topic would go back in time.
    """

    config: MqttTargetConfig

    def __init__(self, config: NotifierConfig) -> None:
        super().__init__(config)
        self._client: paho.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._password: str | None = None
        self._refused: dict[int, Any] = {}  # mid -> failing PUBACK reason code, filled in paho's thread
        self._lock = threading.Lock()
        cfg: MqttTargetConfig = config  # type: ignore[assignment]
        # Random by default: two hubs (or a restarted one) must not knock each other off the broker.
        self._client_id = cfg.client_id or f"iocgw-notify-{cfg.name}-{uuid.uuid4().hex[:8]}"
        self.last_error: str | None = None

    # -- paho callbacks (paho's thread) -------------------------------------------------------------------
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if client is not self._client or self._loop is None:
            return
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            return
        self.last_error = None
        self._loop.call_soon_threadsafe(self._connected.set)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if client is self._client and self._loop is not None:
            self._loop.call_soon_threadsafe(self._connected.clear)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        # paho calls this before it marks the message published, so send() finds the reason once waiting ends.
        if reason.is_failure:
            with self._lock:
                self._refused[mid] = reason

    # -- lifecycle ----------------------------------------------------------------------------------------
    def _open(self) -> None:
        """A new client, connecting in paho's thread. Blocking (reads the TLS files, starts a thread): called
        through ``asyncio.to_thread``, after the caller cleared ``_connected`` on the loop."""
        client = broker_client(self.config, self._client_id, self._password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        connect(client, self.config)

    async def _reopen(self) -> None:
        self._connected.clear()
        await asyncio.to_thread(self._open)

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._connected.clear()
        if client is not None:
            await asyncio.to_thread(_stop_client, client)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.config.password is not None:
            self._password = await asyncio.to_thread(self.config.password.read)  # a file, perhaps
        await self._reopen()

    async def send(self, notification: Notification) -> None:
        cfg = self.config
        try:
            topic = alert_topic(cfg.prefix, notification.alarm.rule, notification.alarm.subject)
        except ValueError as exc:
            raise NotifyError(f"mqtt {self.name}: {exc}", retryable=False) from None
        if self._loop is None:
            raise NotifyError(f"mqtt {self.name} not started", retryable=True)
        if self._client is None:
            await self._reopen()
        try:
            async with asyncio.timeout(cfg.timeout_s):
                await self._connected.wait()
        except TimeoutError:
            why = f" ({self.last_error})" if self.last_error else ""
            raise NotifyError(
                f"mqtt {self.name}: not connected to {cfg.host}:{cfg.port}{why}", retryable=True
            ) from None
        client = self._client
        assert client is not None
        props = Properties(PacketTypes.PUBLISH)
        props.PayloadFormatIndicator = 1  # UTF-8 text
        props.ContentType = "application/json"
        info = client.publish(topic, notification.body(), qos=1, retain=cfg.retain, properties=props)
        try:
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise RuntimeError(paho.error_string(info.rc))
            await asyncio.to_thread(info.wait_for_publish, cfg.timeout_s)
            published = info.is_published()
        except (RuntimeError, ValueError) as exc:
            await self._drop_client()
            raise NotifyError(f"mqtt {self.name}: publish to {topic} failed: {exc}", retryable=True) from None
        if not published:
            await self._drop_client()
            raise NotifyError(f"mqtt {self.name}: no PUBACK for {topic} within {cfg.timeout_s} s", retryable=True)
        with self._lock:
            reason = self._refused.pop(info.mid, None)
        if reason is not None:
            raise NotifyError(
                f"mqtt {self.name}: broker refused {topic}: {reason}", retryable=reason.value in _RETRYABLE_PUBACK
            )

    async def close(self) -> None:
        await self._drop_client()


def _stop_client(client: paho.Client) -> None:
    with contextlib.suppress(Exception):
        client.disconnect()
    client.loop_stop()
