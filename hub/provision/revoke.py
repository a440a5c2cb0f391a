"""Revocation: a record of every certificate issued, and the CRL the broker checks client certificates against.

Mosquitto reads the CRL (``crlfile``) when it starts: after a revocation, regenerate the bundle and restart it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pydantic import BaseModel, ConfigDict

from hub.provision.ca import Authority, PkiDir, now
from hub.provision.files import ProvisionError, write_public

# OpenSSL refuses every client once a CRL is past its next update, so it is re-signed with each change and
# lasts long; `iocgw provision crl` re-signs it without a change.
CRL_DAYS = 365


class IssuedRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial: int
    common_name: str
    usage: str
    not_after: dt.datetime
    revoked_at: dt.datetime | None = None


def _index(pki: PkiDir) -> Path:
    return pki.root / "issued.jsonl"


def read_index(pki: PkiDir) -> list[IssuedRecord]:
    path = _index(pki)
    if not path.exists():
        return []
    return [IssuedRecord.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


def _write_index(pki: PkiDir, records: list[IssuedRecord]) -> None:
    body = "".join(r.model_dump_json() + "\n" for r in records)
    write_public(_index(pki), body.encode(), overwrite=True)


def record_issued(pki: PkiDir, cert: x509.Certificate, common_name: str, usage: str) -> None:
    """Remember a certificate, so it can be revoked after its file has been replaced (rotation)."""
    records = read_index(pki)
    records.append(
        IssuedRecord(
            serial=cert.serial_number, common_name=common_name, usage=usage, not_after=cert.not_valid_after_utc
        )
    )
    _write_index(pki, records)


def write_crl(ca: Authority, pki: PkiDir, days: int = CRL_DAYS) -> x509.CertificateRevocationList:
    if days < 1:
        raise ProvisionError("--days must be at least 1")
    records = read_index(pki)
    start = now()
    number = int(start.timestamp())  # grows with every re-signing, as CRL numbers must
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(start)
        .next_update(start + dt.timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    for r in records:
        # Expired certificates are refused anyway; leaving them out keeps the list short.
        if r.revoked_at is not None and r.not_after > start:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(r.serial).revocation_date(r.revoked_at).build()
            )
    crl = builder.sign(ca.key, hashes.SHA256())
    write_public(pki.crl, crl.public_bytes(serialization.Encoding.PEM), overwrite=True)
    return crl


def revoke(ca: Authority, pki: PkiDir, name: str, *, keep_current: bool = False) -> list[int]:
    """Revoke every certificate issued to ``name`` (with ``keep_current``, all but the one now in its file).
    Returns the serials revoked; the CRL is re-signed."""
    keep: int | None = None
    if keep_current:
        for path in (pki.node_cert(name), pki.hub_cert(name)):
            if path.exists():
                keep = x509.load_pem_x509_certificate(path.read_bytes()).serial_number
        if keep is None:
            raise ProvisionError(f"{name} has no current certificate in {pki.root} to keep")
    records = read_index(pki)
    if not any(r.common_name == name for r in records):
        raise ProvisionError(f"no certificate issued to {name} is recorded in {_index(pki)}")
    revoked = []
    at = now()
    for r in records:
        if r.common_name == name and r.revoked_at is None and r.serial != keep:
            r.revoked_at = at
            revoked.append(r.serial)
    _write_index(pki, records)
    write_crl(ca, pki)
    return revoked
