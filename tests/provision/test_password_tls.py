"""The password listener: server-side TLS by default (encrypted logins without client certificates), plain TCP only
when asked for with --password-plaintext."""

from __future__ import annotations

import pytest

from tests.provision.broker import PASSWORD_NODE, Identity, ProvisionedMosquitto, make_pki
from tests.provision.peers import Peer

pytestmark = pytest.mark.services


def test_password_over_tls_by_default_and_no_plain_text(tmp_path):
    test_pki = make_pki(tmp_path)
    broker = ProvisionedMosquitto(tmp_path / "broker", test_pki)
    broker.start()
    ca = str(test_pki.pki.ca_cert)
    peers = []
    try:
        hub = Peer(broker.port, test_pki.hub(), ca)
        logger = Peer(broker.password_port, test_pki.logger(), ca)  # CA only: no client certificate
        plain = Peer(broker.password_port, test_pki.logger(), None)
        peers += [hub, logger]
        assert not hub.connect().is_failure
        hub.subscribe("iocgw/v1/#")
        assert not logger.connect().is_failure
        logger.publish(f"iocgw/v1/{PASSWORD_NODE}/telemetry", b"over tls")
        hub.wait_for(f"iocgw/v1/{PASSWORD_NODE}/telemetry", b"over tls")
        # A logger that sends its password in clear text to this port gets no CONNACK: the broker expects TLS.
        with pytest.raises(AssertionError, match="without a CONNACK"):
            plain.connect()
        plain.close()
        wrong = Peer(broker.password_port, Identity(username=PASSWORD_NODE, password="wrong"), ca)
        peers.append(wrong)
        assert wrong.connect().is_failure
    finally:
        for peer in peers:
            peer.close()
        broker.kill()


def test_plain_text_passwords_only_when_asked_for(tmp_path):
    test_pki = make_pki(tmp_path)
    broker = ProvisionedMosquitto(tmp_path / "broker", test_pki, password_plaintext=True)
    broker.start()
    peers = []
    try:
        hub = Peer(broker.port, test_pki.hub(), str(test_pki.pki.ca_cert))
        logger = Peer(broker.password_port, test_pki.logger(), None)
        wrong = Peer(broker.password_port, Identity(username=PASSWORD_NODE, password="wrong"), None)
        peers += [hub, logger, wrong]
        assert not hub.connect().is_failure
        hub.subscribe("iocgw/v1/#")
        assert not logger.connect().is_failure
        logger.publish(f"iocgw/v1/{PASSWORD_NODE}/telemetry", b"plain")
        hub.wait_for(f"iocgw/v1/{PASSWORD_NODE}/telemetry", b"plain")
        assert wrong.connect().is_failure
    finally:
        for peer in peers:
            peer.close()
        broker.kill()
