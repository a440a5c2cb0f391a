"""The generated broker config, enforced by a real Mosquitto: identities, ACLs and TLS refusals."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.provision.broker import HUB2, PASSWORD_NODE, FixturePki, Identity, ProvisionedMosquitto
from tests.provision.peers import Peer, tls_refusal

pytestmark = pytest.mark.services


@pytest.fixture
def connect(secure_broker: ProvisionedMosquitto, test_pki: FixturePki) -> Iterator:
    peers: list[Peer] = []

    def factory(who: Identity, password_listener: bool = False, client_id: str = "") -> Peer:
        port = secure_broker.password_port if password_listener else secure_broker.port
        peer = Peer(port, who, str(test_pki.pki.ca_cert), client_id)  # the password listener is TLS too
        peers.append(peer)
        rc = peer.connect()
        assert not rc.is_failure, f"refused: {rc}"
        return peer

    yield factory
    for peer in peers:
        peer.close()


def marker() -> bytes:
    return uuid.uuid4().hex.encode()


def test_node_telemetry_reaches_the_hub(connect, test_pki):
    hub = connect(test_pki.hub())
    assert not any(rc.is_failure for rc in hub.subscribe("$share/hubs/iocgw/v1/+/telemetry", "iocgw/v1/+/status"))
    node = connect(test_pki.node("node-a"))
    body = marker()
    node.publish("iocgw/v1/node-a/telemetry", body)
    node.publish("iocgw/v1/node-a/status", b"online", retain=True)
    hub.wait_for("iocgw/v1/node-a/telemetry", body)
    hub.wait_for("iocgw/v1/node-a/status", b"online")


def test_node_cannot_publish_as_another_node(connect, test_pki):
    hub = connect(test_pki.hub())
    hub.subscribe("iocgw/v1/#")  # one subscription: the broker delivers its messages in publish order
    node_a = connect(test_pki.node("node-a"))
    forged, done = marker(), marker()
    for channel in ("telemetry", "status", "event", "snapshot/cam1/fire"):
        node_a.publish(f"iocgw/v1/node-b/{channel}", forged)
    node_a.publish("iocgw/v1/node-a/ack", forged)  # nor write what only the hub writes
    node_a.publish("iocgw/v1/node-a/config", forged)
    node_a.publish("iocgw/v1/node-a/telemetry", done)
    # The allowed marker was published after the forgeries on the same connection: once it has arrived, any
    # forgery the broker had let through would have arrived before it.
    hub.wait_for("iocgw/v1/node-a/telemetry", done)
    assert [t for t, p in hub.received if p == forged] == []


def test_node_cannot_read_another_nodes_config(connect, test_pki):
    hub = connect(test_pki.hub())
    secret_config, done = marker(), marker()
    hub.publish("iocgw/v1/node-b/config", secret_config, retain=True)
    node_a = connect(test_pki.node("node-a"))
    # Mosquitto 2.0 grants these subscriptions and filters on delivery, where the ACL's read rule applies.
    node_a.subscribe("iocgw/v1/node-b/config", "iocgw/v1/+/config", "iocgw/v1/#", "iocgw/v1/node-a/ack")
    hub.publish("iocgw/v1/node-b/config", secret_config)
    hub.publish("iocgw/v1/node-a/ack", done)
    node_a.wait_for("iocgw/v1/node-a/ack", done)
    assert [t for t, p in node_a.received if p == secret_config] == []
    # The rightful node does get its retained config.
    node_b = connect(test_pki.node("node-b"))
    node_b.subscribe("iocgw/v1/node-b/config")
    node_b.wait_for("iocgw/v1/node-b/config", secret_config)


def test_hub_writes_only_config_and_ack(connect, test_pki):
    watcher = connect(test_pki.hub(HUB2))  # a second hub: one identity per connection, or they kick each other
    watcher.subscribe("iocgw/v1/#")
    hub = connect(test_pki.hub())
    forged, done = marker(), marker()
    hub.publish("iocgw/v1/node-a/telemetry", forged)
    hub.publish("iocgw/v1/node-a/status", forged)
    hub.publish("iocgw/v1/node-a/config", done)
    watcher.wait_for("iocgw/v1/node-a/config", done)
    assert [t for t, p in watcher.received if p == forged] == []


def test_user_name_sent_with_a_certificate_is_ignored(connect, test_pki):
    hub = connect(test_pki.hub())
    hub.subscribe("iocgw/v1/#")
    a = test_pki.node("node-a")
    posing = connect(Identity(a.cert, a.key, username="node-b", password="whatever"))
    forged, done = marker(), marker()
    posing.publish("iocgw/v1/node-b/telemetry", forged)
    posing.publish("iocgw/v1/node-a/telemetry", done)  # still node-a, as its certificate says
    hub.wait_for("iocgw/v1/node-a/telemetry", done)
    assert [t for t, p in hub.received if p == forged] == []


def test_client_id_of_another_node_does_not_take_over_its_session(connect, test_pki):
    hub = connect(test_pki.hub())
    hub.subscribe("iocgw/v1/#")
    node_b = connect(test_pki.node("node-b"), client_id="node-b")
    connect(test_pki.node("node-a"), client_id="node-b")  # the broker renames it to its identity, node-a
    done = marker()
    node_b.publish("iocgw/v1/node-b/telemetry", done)
    hub.wait_for("iocgw/v1/node-b/telemetry", done)
    assert not node_b.disconnected.is_set()


@pytest.mark.parametrize("tls12", [True, False], ids=["tls1.2", "tls1.3"])
def test_valid_certificate_gets_a_connack(secure_broker, test_pki, tls12):
    assert tls_refusal(secure_broker.port, str(test_pki.pki.ca_cert), test_pki.node("node-a"), tls12=tls12) is None


@pytest.mark.parametrize(
    ("who", "alert"),
    [("expired", "CERTIFICATE_EXPIRED"), ("foreign", "UNKNOWN_CA"), ("none", "HANDSHAKE_FAILURE")],
)
@pytest.mark.parametrize("tls12", [True, False], ids=["tls1.2", "tls1.3"])
def test_bad_or_missing_certificate_is_refused_at_the_handshake(secure_broker, test_pki, who, alert, tls12):
    identity = {"expired": test_pki.expired, "foreign": test_pki.foreign, "none": None}[who]
    reason = tls_refusal(secure_broker.port, str(test_pki.pki.ca_cert), identity, tls12=tls12)
    assert reason is not None, "the broker answered CONNECT"
    if tls12:
        assert alert in reason


def test_anonymous_is_refused_on_the_password_listener(secure_broker, test_pki):
    peer = Peer(secure_broker.password_port, Identity(), str(test_pki.pki.ca_cert))
    try:
        assert peer.connect().is_failure
    finally:
        peer.close()


@pytest.mark.parametrize("password", ["wrong", ""])
def test_wrong_password_is_refused(secure_broker, test_pki, password):
    peer = Peer(secure_broker.password_port, test_pki.logger(password), str(test_pki.pki.ca_cert))
    try:
        assert peer.connect().is_failure
    finally:
        peer.close()


def test_right_password_logs_in_with_the_same_acl(connect, test_pki):
    hub = connect(test_pki.hub())
    hub.subscribe("iocgw/v1/#")
    logger = connect(test_pki.logger(), password_listener=True)
    forged, body = marker(), marker()
    logger.publish("iocgw/v1/node-a/telemetry", forged)
    logger.publish(f"iocgw/v1/{PASSWORD_NODE}/telemetry", body)
    hub.wait_for(f"iocgw/v1/{PASSWORD_NODE}/telemetry", body)
    assert [t for t, p in hub.received if p == forged] == []
