"""The password listener with server-side TLS (--password-tls): encrypted logins without client certificates."""

from __future__ import annotations

import pytest

from tests.provision.broker import PASSWORD_NODE, Identity, ProvisionedMosquitto, make_pki
from tests.provision.peers import Peer

pytestmark = pytest.mark.services


def test_password_over_tls_and_no_plain_text(tmp_path):
    test_pki = make_pki(tmp_path)
    broker = ProvisionedMosquitto(tmp_path / "broker", test_pki, password_tls=True)
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
