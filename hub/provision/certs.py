"""End-entity certificates signed by the local CA: one per node, one per hub, one for the broker."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.provision.ca import BACKDATE, Authority, PkiDir, cert_pem, key_pem, new_key, now
from hub.provision.files import ProvisionError, write_public, write_secret
from hub.provision.revoke import record_issued

CLIENT_DAYS = 730
SERVER_DAYS = 397  # what public CAs may issue at most; a yearly rotation keeps the procedure practised
# The wire contract's identifier: safe as a topic level, an ACL user name and a file name.
IDENTITY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class Usage(StrEnum):
    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True)
class Issued:
    cert_path: Path
    key_path: Path
    not_after: dt.datetime


def check_identity(name: str, what: str = "node id") -> str:
    if not IDENTITY.match(name):
        raise ProvisionError(f"{what} {name!r} must match {IDENTITY.pattern} (lower case, no '/', '+', '#')")
    return name


def _key_usage() -> x509.KeyUsage:
    # ECDHE key exchange with an EC key needs only signatures.
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def build_cert(
    ca: Authority,
    common_name: str,
    usage: Usage,
    key: ec.EllipticCurvePrivateKey,
    *,
    days: int,
    dns_names: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    not_before: dt.datetime | None = None,
) -> x509.Certificate:
    """Sign ``key``'s public half for ``common_name``; ``not_before`` exists so tests can make expired certs."""
    if days < 1:
        raise ProvisionError("--days must be at least 1")
    start = not_before or now() - BACKDATE
    end = min(start + dt.timedelta(days=days), ca.cert.not_valid_after_utc)
    eku = ExtendedKeyUsageOID.CLIENT_AUTH if usage is Usage.CLIENT else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    try:
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    except ValueError as exc:
        raise ProvisionError(f"--ip: {exc}") from exc
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def _issue(
    ca: Authority,
    pki: PkiDir,
    cert_path: Path,
    key_path: Path,
    common_name: str,
    usage: Usage,
    days: int,
    overwrite: bool,
    **kw: Any,
) -> Issued:
    if not overwrite:
        for path in (cert_path, key_path):
            if path.exists():
                raise ProvisionError(f"{path} already exists; pass --force to replace it (rotation)")
    key = new_key()
    cert = build_cert(ca, common_name, usage, key, days=days, **kw)
    write_secret(key_path, key_pem(key), overwrite=overwrite)
    write_public(cert_path, cert_pem(cert), overwrite=overwrite)
    record_issued(pki, cert, common_name, usage.value)
    return Issued(cert_path, key_path, cert.not_valid_after_utc)


def issue_node(ca: Authority, pki: PkiDir, node_id: str, days: int = CLIENT_DAYS, *, overwrite: bool = False) -> Issued:
    """A client certificate whose CN is the node id: the broker takes it as the user name its ACL checks."""
    check_identity(node_id)
    return _issue(ca, pki, pki.node_cert(node_id), pki.node_key(node_id), node_id, Usage.CLIENT, days, overwrite)


def issue_hub(ca: Authority, pki: PkiDir, name: str, days: int = CLIENT_DAYS, *, overwrite: bool = False) -> Issued:
    check_identity(name, "hub name")
    return _issue(ca, pki, pki.hub_cert(name), pki.hub_key(name), name, Usage.CLIENT, days, overwrite)


def issue_server(
    ca: Authority,
    pki: PkiDir,
    hosts: tuple[str, ...],
    ips: tuple[str, ...] = (),
    days: int = SERVER_DAYS,
    *,
    overwrite: bool = False,
) -> Issued:
    """The broker's certificate; clients check the name they dial against its SANs (DNS names and IPs)."""
    if not hosts and not ips:
        raise ProvisionError("give at least one --host or --ip for the broker's certificate")
    cn = hosts[0] if hosts else ips[0]
    return _issue(ca, pki, pki.server_cert, pki.server_key, cn, Usage.SERVER, days, overwrite, dns_names=hosts, ips=ips)
