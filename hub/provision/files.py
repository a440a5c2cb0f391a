"""Writing provisioning output: secrets are created 0600 from the first byte, never chmod-ed afterwards."""

from __future__ import annotations

import os
import stat
from pathlib import Path

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


class ProvisionError(RuntimeError):
    """A provisioning step cannot go on (missing CA, file already there, bad registry); the message says why."""


def _write(path: Path, data: bytes, mode: int, overwrite: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise ProvisionError(f"{path} already exists; pass --force to replace it")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    # O_EXCL with the final mode: the secret is never readable by others, not even between open and chmod.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed it further than asked, e.g. 0644 under umask 077
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_secret(path: Path, data: bytes, *, overwrite: bool = False) -> Path:
    """A private key or password: owner read/write only."""
    return _write(path, data, SECRET_MODE, overwrite)


def write_public(path: Path, data: bytes, *, overwrite: bool = False) -> Path:
    """A certificate, config or ACL: world-readable."""
    return _write(path, data, PUBLIC_MODE, overwrite)


def is_private(path: Path) -> bool:
    """True if neither group nor others may read or write ``path``."""
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
