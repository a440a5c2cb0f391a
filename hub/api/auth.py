"""Bearer tokens with roles: the settings, hashing, and the check every /api route makes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

TokenName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class Role(StrEnum):
    """Each role may do what the roles before it may, and more."""

    VIEWER = "viewer"  # read alerts, nodes, thresholds
    OFFICER = "officer"  # + acknowledge alerts
    HYDROLOGY = "hydrology"  # + change thresholds
    ADMIN = "admin"  # + reload the rule files

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class ApiToken(BaseModel):
    """One token holder; only the SHA-256 of the token is kept, so the config file reveals no token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: TokenName = Field(description="Who holds it; recorded as who acknowledged an alert or changed a threshold")
    role: Role
    token_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="hash_token(token): lower-case hex SHA-256 of the token"
    )


class ApiSettings(BaseModel):
    """The hub config's ``api`` section. Without it every /api route answers 503 (secure by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: list[ApiToken] = Field(min_length=1, description="Who may use the API, and as what")

    @model_validator(mode="after")
    def _unique(self) -> ApiSettings:
        names = [t.name for t in self.tokens]
        if len(names) != len(set(names)):
            raise ValueError("token names must be unique: they are what the audit trail records")
        hashes = [t.token_sha256 for t in self.tokens]
        if len(hashes) != len(set(hashes)):
            raise ValueError("the same token is configured twice")
        return self

    def lookup(self, token: str) -> ApiToken | None:
        """The holder of ``token``, or None."""
        digest = hash_token(token)
        found = None
        for t in self.tokens:
            # Compare every entry in constant time, so timing tells nothing about which hash came close.
            if hmac.compare_digest(t.token_sha256, digest):
                found = t
        return found


def hash_token(token: str) -> str:
    """The value for ``token_sha256``: lower-case hex SHA-256 of the token's UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits): long enough that a plain hash needs no salt or stretching."""
    return secrets.token_urlsafe(32)


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
