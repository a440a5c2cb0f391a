"""The CA and the certificates it signs: fields a broker and a TLS client check, file modes, refusals."""

from __future__ import annotations

import datetime as dt
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.provision.ca import PkiDir, create_ca, load_ca
from hub.provision.certs import issue_hub, issue_node, issue_server
from hub.provision.files import ProvisionError, is_private


def cert(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def signed_by(child: x509.Certificate, ca: x509.Certificate) -> bool:
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(child.signature_hash_algorithm))
    return child.issuer == ca.subject


@pytest.fixture
def pki(tmp_path) -> PkiDir:
    return PkiDir(tmp_path / "pki")


def test_ca_is_self_signed_limited_and_its_key_private(pki):
    create_ca(pki, "test CA", days=365)
    ca = cert(pki.ca_cert)
    assert signed_by(ca, ca)
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert 364 <= (ca.not_valid_after_utc - ca.not_valid_before_utc).days <= 366
    assert stat.S_IMODE(pki.ca_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pki.root.stat().st_mode) == 0o700
    assert not is_private(pki.ca_cert)


def test_ca_is_never_replaced_by_accident(pki):
    create_ca(pki)
    before = pki.ca_key.read_bytes()
    with pytest.raises(ProvisionError, match="already exists"):
        create_ca(pki)
    assert pki.ca_key.read_bytes() == before


def test_node_certificate_names_the_node_for_client_auth(pki):
    ca = create_ca(pki)
    issued = issue_node(ca, pki, "river-001", days=30)
    c = cert(issued.cert_path)
    assert signed_by(c, ca.cert)
    assert c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "river-001"
    assert list(c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert dt.timedelta(days=29) < c.not_valid_after_utc - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    assert stat.S_IMODE(issued.key_path.stat().st_mode) == 0o600
    assert issued.cert_path == pki.node_cert("river-001")


def test_reissue_needs_force_and_makes_a_new_key(pki):
    ca = create_ca(pki)
    issue_node(ca, pki, "river-001")
    old_key = pki.node_key("river-001").read_bytes()
    with pytest.raises(ProvisionError, match="--force"):
        issue_node(ca, pki, "river-001")
    issue_node(ca, pki, "river-001", overwrite=True)
    assert pki.node_key("river-001").read_bytes() != old_key
    assert is_private(pki.node_key("river-001"))


def test_certificate_never_outlives_the_ca(pki):
    ca = create_ca(pki, days=10)
    c = cert(issue_node(ca, pki, "river-001", days=730).cert_path)
    assert c.not_valid_after_utc <= ca.cert.not_valid_after_utc


@pytest.mark.parametrize("bad", ["River-1", "a/b", "a+b", "#", "", "x" * 65])
def test_identity_that_is_unsafe_in_topics_or_acls_is_refused(pki, bad):
    ca = create_ca(pki)
    with pytest.raises(ProvisionError, match="must match"):
        issue_node(ca, pki, bad)


def test_server_certificate_lists_names_and_addresses(pki):
    ca = create_ca(pki)
    c = cert(issue_server(ca, pki, ("broker.example.vn", "localhost"), ("10.0.0.5", "::1")).cert_path)
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["broker.example.vn", "localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.5", "::1"]
    assert list(c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    with pytest.raises(ProvisionError, match="--ip"):
        issue_server(ca, pki, ("x",), ("not-an-ip",), overwrite=True)


def test_hub_certificate_and_loading_the_ca(pki):
    create_ca(pki)
    ca = load_ca(pki)
    c = cert(issue_hub(ca, pki, "iocgw-hub").cert_path)
    assert c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "iocgw-hub"
    assert signed_by(c, ca.cert)


def test_missing_ca_says_how_to_make_one(pki):
    with pytest.raises(ProvisionError, match="provision ca init"):
        load_ca(pki)
