"""Revocation: a revoked certificate is refused by a real Mosquitto reading the generated CRL; others still work."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from cryptography import x509

import hub.provision.revoke as revoke_module
from hub.provision.acl import AclPlan
from hub.provision.ca import load_ca
from hub.provision.certs import issue_node
from hub.provision.files import ProvisionError
from hub.provision.identities import load_identities
from hub.provision.mosquitto_conf import BrokerSettings, write_bundle
from hub.provision.revoke import read_index, revoke, write_crl
from tests.provision.broker import Identity, ProvisionedMosquitto, make_pki
from tests.provision.peers import tls_refusal


def serial(path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


@pytest.mark.services
def test_revoked_and_replaced_certificates_are_refused(tmp_path):
    test_pki = make_pki(tmp_path)
    pki = test_pki.pki
    ca = load_ca(pki)
    # node-b's key is rotated: the old certificate is kept aside, as a thief would have it.
    old_b = Identity(tmp_path / "old-b.crt", tmp_path / "old-b.key")
    shutil.copy(pki.node_cert("node-b"), old_b.cert)
    shutil.copy(pki.node_key("node-b"), old_b.key)
    issue_node(ca, pki, "node-b", overwrite=True)
    assert revoke(ca, pki, "node-b", keep_current=True) == [serial(old_b.cert)]
    assert revoke(ca, pki, "node-a") == [serial(pki.node_cert("node-a"))]
    crl = x509.load_pem_x509_crl(pki.crl.read_bytes())
    assert crl.is_signature_valid(ca.key.public_key())
    assert {r.serial_number for r in crl} == {serial(old_b.cert), serial(pki.node_cert("node-a"))}

    broker = ProvisionedMosquitto(tmp_path / "broker", test_pki)
    broker.start()
    try:
        ca_file = str(pki.ca_cert)
        for who in (test_pki.node("node-a"), old_b):
            reason = tls_refusal(broker.port, ca_file, who, tls12=True)
            assert reason is not None and "CERTIFICATE_REVOKED" in reason
        assert tls_refusal(broker.port, ca_file, test_pki.node("node-b"), tls12=True) is None
        assert tls_refusal(broker.port, ca_file, test_pki.hub(), tls12=False) is None
    finally:
        broker.kill()


def test_revoke_refuses_what_it_cannot_find(tmp_path):
    test_pki = make_pki(tmp_path)
    ca = load_ca(test_pki.pki)
    with pytest.raises(ProvisionError, match="no certificate issued to nobody"):
        revoke(ca, test_pki.pki, "nobody")
    test_pki.pki.node_cert("node-a").unlink()
    with pytest.raises(ProvisionError, match="no current certificate"):
        revoke(ca, test_pki.pki, "node-a", keep_current=True)
    assert all(r.revoked_at is None for r in read_index(test_pki.pki))


def test_bundle_with_a_crl_about_to_run_out_is_refused(tmp_path, monkeypatch):
    test_pki = make_pki(tmp_path)
    pki = test_pki.pki
    # Signed 400 days ago for 365 days: OpenSSL would refuse every client with it.
    monkeypatch.setattr(revoke_module, "now", lambda: dt.datetime.now(dt.UTC) - dt.timedelta(days=400))
    write_crl(load_ca(pki), pki)
    plan = AclPlan(nodes=load_identities([test_pki.registry]), hubs=["iocgw-hub"])
    with pytest.raises(ProvisionError, match="provision crl"):
        write_bundle(plan, BrokerSettings(), pki, tmp_path / "out")
