"""Siren and loudspeaker channel: a signed actuator command to an edge node, delivered when the node says it ran it.

Each send publishes an ``ActuateCommand`` (wire.actuate) on ``<prefix>/v1/<node>/actuate``, signed with that node's
actuation key, and waits up to ``timeout_s`` for the node's ``ActuateAck`` on ``<prefix>/v1/<node>/actuate_ack``:
executed is a delivery, a refusal or a failure is final (the node has said why, and the same command would meet
the same answer), and silence is worth another try. The command id is derived from the warning's own idempotency
key, so a retry after a lost ack is the same command: the node does not run it again and answers with what its
first arrival did (docs/warnings-sirens.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as paho
from pydantic import Field, ValidationError, model_validator

from hub.broker_client import broker_client, connect
from hub.secret import Secret
from hub.warn.channels.base import Channel, ChannelConfig, ChannelError, Receipt
from hub.warn.channels.registry import CHANNELS
from hub.warn.message import WarningMessage
from wire.actuate import MAX_SIREN_S, MAX_VALIDITY, Action, ActuateAck, ActuateCommand, Outcome, RefusalCode, read_key
from wire.actuate import sign as sign_command
from wire.messages import IDENTIFIER_PATTERN, Identifier, utcnow
from wire.topics import Channel as WireChannel
from wire.topics import Topics

log = logging.getLogger(__name__)

_SIREN_ACTIONS = {"on": Action.SIREN_ON, "off": Action.SIREN_OFF, "test": Action.TEST}


class SirenConfig(ChannelConfig):
    """Which broker, the hub identity to log in with, where the nodes' actuation keys are, and what "on" means."""

    type: Literal["siren"] = "siren"
    host: str = Field("127.0.0.1", description="Broker host")
    port: int = Field(1883, ge=1, le=65535, description="Broker port")
    prefix: str = Field("iocgw", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", description="The nodes' prefix")
    client_id: str | None = Field(None, description="Default: iocgw-siren-<name>-<random>, unique per process")
    username: str | None = Field(None, description="Broker user name (with a password)")
    password: Secret | None = Field(None, description="Broker password")
    tls: bool = Field(False, description="Connect with TLS")
    ca_file: Path | None = Field(None, description="CA bundle for TLS; default: the system's")
    cert_file: Path | None = Field(None, description="The hub's client certificate (iocgw provision hub)")
    key_file: Path | None = Field(None, description="Its private key (mode 0600)")
    keepalive_s: int = Field(30, ge=5, le=3600)
    key_dir: Path = Field(
        description="Folder of the nodes' actuation keys, '<node_id>.key' each (iocgw provision actuation-key)"
    )
    actuator: Identifier = Field("siren", description="Actuator id on the node, when the address names none")
    siren_s: float = Field(180.0, gt=0, le=MAX_SIREN_S, description="How long 'on' sounds the siren")
    test_s: float | None = Field(None, gt=0, le=30, description="Length of a test; default: the node's own")
    valid_s: float = Field(
        60.0, gt=0, le=MAX_VALIDITY.total_seconds(), description="A command not run within this is refused by the node"
    )

    @model_validator(mode="after")
    def _client_pair(self) -> SirenConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file, or neither")
        if self.cert_file is not None and not self.tls:
            raise ValueError("cert_file and key_file need tls: true")
        return self


def parse_address(address: str, default_actuator: str) -> tuple[str, str]:
    """``node`` or ``node/actuator`` -> (node, actuator); ValueError for anything else."""
    node, _, actuator = address.partition("/")
    actuator = actuator or default_actuator
    for what, value in (("node id", node), ("actuator id", actuator)):
        if not re.fullmatch(IDENTIFIER_PATTERN, value):
            raise ValueError(f"{what} {value!r} is not an identifier")
    return node, actuator


def command_id_for(message: WarningMessage) -> str:
    """The same warning always gives the same id (a retry is the same command); 128 bits of the key's hash."""
    return "w-" + hashlib.sha256(message.id.encode()).hexdigest()[:32]


@CHANNELS.register("siren", SirenConfig)
class SirenChannel(Channel):
    """One paho client (MQTT v5, network loop in paho's thread) subscribed to every node's actuate_ack."""

    config: SirenConfig

    def __init__(self, config: ChannelConfig) -> None:
        super().__init__(config)
        cfg: SirenConfig = config  # type: ignore[assignment]
        self.topics = Topics(cfg.prefix)
        self._client: paho.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._waiting: dict[str, asyncio.Future[ActuateAck]] = {}
        self._lock = threading.Lock()
        self._keys: dict[str, bytes] = {}
        self._client_id = cfg.client_id or f"iocgw-siren-{cfg.name}-{uuid.uuid4().hex[:8]}"
        self.last_error: str | None = None

    # -- paho callbacks (paho's thread) -------------------------------------------------------------------
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            return
        self.last_error = None
        # Subscribed on every connect (clean start): acks are answers to this session's commands only.
        client.subscribe(self.topics.all_of(WireChannel.ACTUATE_ACK), qos=1)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._connected.set)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._connected.clear)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        try:
            ack = ActuateAck.model_validate_json(msg.payload)
        except ValidationError:
            log.warning("siren %s: unreadable ack on %s", self.name, msg.topic)
            return
        if msg.topic != self.topics.actuate_ack(ack.node_id):
            return  # an ack must come from the node it names: the ACL lets each node write only its own topic
        with self._lock:
            future = self._waiting.get(f"{ack.node_id}/{ack.command_id}")
        if future is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(_resolve, future, ack)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def _open(self, password: str | None) -> None:
        client = broker_client(self.config, self._client_id, password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        connect(client, self.config)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        password = None
        if self.config.password is not None:
            password = await asyncio.to_thread(self.config.password.read)
        self._connected.clear()
        await asyncio.to_thread(self._open, password)

    async def close(self) -> None:
        client, self._client = self._client, None
        self._connected.clear()
        if client is not None:
            await asyncio.to_thread(_stop_client, client)

    async def _key(self, node: str) -> bytes:
        if node not in self._keys:
            path = self.config.key_dir / f"{node}.key"
            try:
                self._keys[node] = read_key(await asyncio.to_thread(path.read_bytes))
            except (OSError, ValueError) as exc:
                # A missing key is a provisioning gap an operator fixes; the outbox may try again later.
                why = exc.strerror if isinstance(exc, OSError) else str(exc)
                raise ChannelError(
                    f"siren {self.name}: no actuation key for {node} ({path}: {why})", retryable=True
                ) from None
        return self._keys[node]

    # -- sending ------------------------------------------------------------------------------------------
    def _fields(self, message: WarningMessage, node: str, actuator: str) -> dict[str, Any]:
        cfg = self.config
        if message.siren is not None:
            action = _SIREN_ACTIONS[message.siren]
        elif message.audio is not None:
            action = Action.PLAY
        else:
            raise ChannelError(f"siren {self.name}: message {message.id} says neither siren nor audio", retryable=False)
        duration = cfg.siren_s if action is Action.SIREN_ON else cfg.test_s if action is Action.TEST else None
        now = utcnow()
        return {
            "node_id": node,
            "command_id": command_id_for(message),
            "actuator": actuator,
            "action": action,
            "duration_s": duration,
            "file": message.audio if action is Action.PLAY else None,
            "issued": now,
            "expires": now + timedelta(seconds=cfg.valid_s),
        }

    async def send(self, message: WarningMessage) -> Receipt:
        cfg = self.config
        try:
            node, actuator = parse_address(message.address, cfg.actuator)
        except ValueError as exc:
            raise ChannelError(f"siren {self.name}: bad address {message.address!r}: {exc}", retryable=False) from None
        fields = self._fields(message, node, actuator)
        try:
            command = sign_command(await self._key(node), fields)
        except ValidationError as exc:
            raise ChannelError(f"siren {self.name}: cannot build the command: {exc}", retryable=False) from None
        if self._loop is None:
            raise ChannelError(f"siren {self.name} not started", retryable=True)
        try:
            async with asyncio.timeout(cfg.timeout_s):
                ack = await self._exchange(node, command)
        except TimeoutError:
            why = f" ({self.last_error})" if self.last_error else ""
            raise ChannelError(
                f"siren {self.name}: no ack from {node} for {command.command_id} within {cfg.timeout_s} s{why}",
                retryable=True,
            ) from None
        return _judge(self.name, node, ack)

    async def _exchange(self, node: str, command: ActuateCommand) -> ActuateAck:
        await self._connected.wait()
        client = self._client
        assert self._loop is not None and client is not None
        key = f"{node}/{command.command_id}"
        future: asyncio.Future[ActuateAck] = self._loop.create_future()
        with self._lock:
            self._waiting[key] = future
        try:
            info = client.publish(self.topics.actuate(node), command.model_dump_json().encode(), qos=1)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise ChannelError(f"siren {self.name}: publish failed: {paho.error_string(info.rc)}", retryable=True)
            return await future
        finally:
            with self._lock:
                self._waiting.pop(key, None)


def _judge(channel: str, node: str, ack: ActuateAck) -> Receipt:
    where = f"siren {channel}: {node}/{ack.actuator} {ack.command_id}"
    if ack.outcome is Outcome.EXECUTED:
        return Receipt("delivered", provider_id=ack.command_id, detail=f"executed at {ack.done or ack.ts:%H:%M:%S}Z")
    if ack.code is RefusalCode.REPLAYED and ack.first_outcome is Outcome.EXECUTED:
        # A retry after a lost ack: the node ran the first copy, which is the delivery.
        return Receipt("delivered", provider_id=ack.command_id, detail="executed earlier (a retry of the same command)")
    code = f" ({ack.code.value})" if ack.code is not None else ""
    raise ChannelError(f"{where} {ack.outcome.value}{code}: {ack.reason}", retryable=False)


def _resolve(future: asyncio.Future[ActuateAck], ack: ActuateAck) -> None:
    if not future.done():
        future.set_result(ack)


def _stop_client(client: paho.Client) -> None:
    with contextlib.suppress(Exception):
        client.disconnect()
    client.loop_stop()
