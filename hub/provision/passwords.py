"""Passwords for loggers that cannot do TLS client certificates, in Mosquitto's own password-file format.

Mosquitto 2.0 reads ``user:$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>``, what ``mosquitto_passwd``
writes; generating it here means no broker tool is needed on the machine that provisions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

from hub.provision.files import ProvisionError, write_secret

# mosquitto_passwd's default. The passwords made here carry 256 random bits, so stretching adds nothing to
# their strength, while every connection attempt costs the broker this many HMAC rounds.
ITERATIONS = 101
SALT_BYTES = 12  # the only salt length Mosquitto 2.0 accepts
HASH_BYTES = 64


def new_password() -> str:
    """256 random bits, URL-safe: fits a logger's config field without quoting."""
    return secrets.token_urlsafe(32)


def _pbkdf2(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, HASH_BYTES)


def hash_entry(username: str, password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """One password-file line (without newline)."""
    if ":" in username or "\n" in username:
        raise ProvisionError(f"user name {username!r} may not contain ':' or a newline")
    if iterations < 1:
        raise ProvisionError("iterations must be at least 1")
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = _pbkdf2(password, salt, iterations)
    return f"{username}:$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_entry(line: str, password: str) -> bool:
    """True if ``password`` matches the ``$7$`` line (also lines written by ``mosquitto_passwd``)."""
    _, _, hashed = line.strip().partition(":")
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        raise ValueError("not a Mosquitto $7$ (PBKDF2-SHA512) password entry")
    iterations, salt, expected = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
    return hmac.compare_digest(_pbkdf2(password, salt, iterations), expected)


def read_entries(path: Path) -> dict[str, str]:
    """user -> whole line; an absent file is empty."""
    if not path.exists():
        return {}
    entries: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        user, sep, _ = line.partition(":")
        if not sep:
            raise ProvisionError(f"{path}:{n}: not a 'user:hash' line")
        entries[user] = line
    return entries


def set_password(passwd: Path, password_file: Path, username: str, *, overwrite: bool = False) -> str:
    """Make a password for ``username``: the clear text goes to ``password_file`` (0600, for the logger's
    installer), the hash into ``passwd`` (the broker's file). Returns the entry line, which holds no secret."""
    entries = read_entries(passwd)
    if username in entries and not overwrite:
        raise ProvisionError(f"{username} already has a password in {passwd}; pass --force to replace it")
    password = new_password()
    write_secret(password_file, (password + "\n").encode(), overwrite=overwrite)
    entries[username] = hash_entry(username, password)
    # Hashes only, yet still 0600: an offline guess needs the file, and nobody but the broker needs it.
    write_secret(passwd, ("\n".join(entries[u] for u in sorted(entries)) + "\n").encode(), overwrite=True)
    return entries[username]
