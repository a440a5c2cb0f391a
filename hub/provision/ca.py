"""The local certificate authority: where its files live, creating it, and loading it to sign with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.provision.files import ProvisionError, write_public, write_secret

CA_DAYS = 3650
# Backdating absorbs clock skew between the machine that signs and a node whose clock is a little behind.
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class PkiDir:
    """The layout of a PKI folder; keep it off the broker and out of the repository (it holds the CA key)."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    def node_cert(self, node_id: str) -> Path:
        return self.root / "nodes" / f"{node_id}.crt"

    def node_key(self, node_id: str) -> Path:
        return self.root / "nodes" / f"{node_id}.key"

    def node_password(self, node_id: str) -> Path:
        return self.root / "nodes" / f"{node_id}.password"

    def hub_cert(self, name: str) -> Path:
        return self.root / "hubs" / f"{name}.crt"

    def hub_key(self, name: str) -> Path:
        return self.root / "hubs" / f"{name}.key"

    @property
    def server_cert(self) -> Path:
        return self.root / "server" / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "server" / "server.key"

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    @property
    def passwd(self) -> Path:
        """Mosquitto password file (hashes only) for the identities that log in with a password."""
        return self.root / "mosquitto.passwd"


@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def new_key() -> ec.EllipticCurvePrivateKey:
    """EC P-256: as strong as RSA 3072, and cheap to handshake on a small node."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # Unencrypted PKCS#8: nodes, hubs and the broker start unattended, so the file's mode is the protection.
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_ca(
    pki: PkiDir, common_name: str = "iocgw local CA", days: int = CA_DAYS, *, overwrite: bool = False
) -> Authority:
    """A self-signed CA that may sign end-entity certificates only (path length 0)."""
    if days < 1:
        raise ProvisionError("--days must be at least 1")
    if pki.ca_key.exists() and not overwrite:
        raise ProvisionError(f"{pki.ca_key} already exists: a CA is created once (pass --force to replace it)")
    # Owner-only folder: besides the CA key it collects every node's key and password.
    pki.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = now() - BACKDATE
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    write_secret(pki.ca_key, key_pem(key), overwrite=overwrite)
    write_public(pki.ca_cert, cert_pem(cert), overwrite=overwrite)
    return Authority(cert, key)


def load_ca(pki: PkiDir) -> Authority:
    if not pki.ca_key.exists() or not pki.ca_cert.exists():
        raise ProvisionError(f"no CA in {pki.root}: run `iocgw provision ca init --dir {pki.root}` first")
    key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ProvisionError(f"{pki.ca_key} is not an EC private key")
    return Authority(x509.load_pem_x509_certificate(pki.ca_cert.read_bytes()), key)
