"""The paho clients of the hub: its own outgoing connections (the MQTT notifier, the siren channel) and its
subscriptions (ingest, the alert leader's feed); one place for the protocol, the reconnect back-off, the credentials
and TLS."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

if TYPE_CHECKING:
    from hub.config import HubMqtt


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


def subscriber_client(m: HubMqtt, client_id: str) -> paho.Client:
    """An MQTT v5 client for the hub's own subscriptions (ingest, the alert leader's feed), not connected yet:
    manual acknowledgements (a message is acknowledged once what it brought is durable), the hub's credentials and
    TLS, a short reconnect back-off. Blocking when TLS is on (it reads the certificate files)."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True
    )
    if m.username:
        client.username_pw_set(m.username, m.password.read() if m.password else None)
    if m.tls is not None:
        client.tls_set(**m.tls.tls_set_kwargs())
    client.reconnect_delay_set(0.2, 10)  # type: ignore[arg-type]  # paho annotates int; it sleeps float seconds
    return client
