"""The paho client the hub's own outgoing MQTT connections share (the MQTT notifier, the siren channel): one place
for the protocol, the reconnect back-off, the credentials and TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion


class BrokerSettings(Protocol):
    """The broker fields both configs carry."""

    host: str
    port: int
    username: str | None
    tls: bool
    ca_file: Path | None
    cert_file: Path | None
    key_file: Path | None
    keepalive_s: int


def broker_client(cfg: BrokerSettings, client_id: str, password: str | None) -> paho.Client:
    """An MQTT v5 client for ``cfg``'s broker, not connected yet (the caller sets its callbacks, then ``connect``).
    Blocking when TLS is on (it reads the certificate files): call it from a worker thread."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    if cfg.username is not None:
        client.username_pw_set(cfg.username, password)
    if cfg.tls:
        client.tls_set(
            ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
            certfile=str(cfg.cert_file) if cfg.cert_file else None,
            keyfile=str(cfg.key_file) if cfg.key_file else None,
        )
    return client


def connect(client: paho.Client, cfg: BrokerSettings) -> None:
    """Connects in paho's own thread and keeps trying there: a broker down at start is fine."""
    client.connect_async(cfg.host, cfg.port, cfg.keepalive_s, clean_start=True)
    client.loop_start()
