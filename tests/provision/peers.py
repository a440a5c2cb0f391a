"""Small MQTT v5 test clients with a chosen identity, and a raw TLS probe for handshake refusals."""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.provision.broker import Identity
from tests.support.wait import wait_until

# MQTT 3.1.1 CONNECT, clean session, client id "p": enough to get a CONNACK once TLS is through.
CONNECT = bytes([0x10, 0x0D, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x3C, 0x00, 0x01]) + b"p"


class Peer:
    """One connection; messages land in ``received`` as (topic, payload) in arrival order."""

    def __init__(self, port: int, who: Identity, ca_file: str | None, client_id: str = "") -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        if ca_file is not None:
            self.client.tls_set(
                ca_certs=ca_file,
                certfile=str(who.cert) if who.cert else None,
                keyfile=str(who.key) if who.key else None,
            )
        if who.username is not None:
            self.client.username_pw_set(who.username, who.password)
        self.port = port
        self.received: list[tuple[str, bytes]] = []
        self.connack: ReasonCode | None = None
        self.disconnected = threading.Event()
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, msg: self.received.append((msg.topic, msg.payload))
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = lambda *a: self.disconnected.set()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: ReasonCode, props: Any) -> None:
        self.connack = rc

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, codes: list[ReasonCode], props: Any) -> None:
        self.subacks[mid] = codes

    def connect(self) -> ReasonCode:
        """The broker's CONNACK reason code (success or why it refused)."""
        self.client.connect("localhost", self.port, keepalive=30)
        self.client.loop_start()
        wait_until(lambda: self.connack is not None or self.disconnected.is_set(), timeout=10, what="CONNACK")
        assert self.connack is not None, "connection closed without a CONNACK"
        return self.connack

    def subscribe(self, *filters: str) -> list[ReasonCode]:
        _, mid = self.client.subscribe([(f, 1) for f in filters])
        return wait_until(lambda: self.subacks.get(mid), timeout=10, what=f"SUBACK for {filters}")

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(timeout=10)

    def wait_for(self, topic: str, payload: bytes) -> None:
        wait_until(lambda: (topic, payload) in self.received, timeout=10, what=f"{payload!r} on {topic}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def tls_refusal(port: int, ca_file: str, who: Identity | None, *, tls12: bool) -> str | None:
    """Why the broker ended the session before answering CONNECT, or None if a CONNACK came.

    Under TLS 1.2 the broker checks the client certificate inside the handshake, so its alert (the reason) is
    what the handshake raises. Under TLS 1.3 it checks after the client's handshake has finished: the alert or
    the closed connection shows up on the first read, and a race with the CONNECT write can eat the alert, so
    only the refusal itself is certain there.
    """
    ctx = ssl.create_default_context(cafile=ca_file)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if who is not None and who.cert is not None:
        ctx.load_cert_chain(str(who.cert), str(who.key))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(CONNECT)
                data = tls.recv(4)
        except ssl.SSLError as exc:
            return str(exc.reason or type(exc).__name__)
        except ConnectionError as exc:
            return type(exc).__name__
    if not data:
        return "closed"
    assert data[:1] == b"\x20", f"expected a CONNACK, got {data!r}"
    return None
