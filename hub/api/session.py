"""Sign-in once: a token exchanged for an HttpOnly, SameSite, expiring session cookie."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from hub.api.context import ApiContext
from hub.api.routes import Route

KEY_BYTES = 32


def load_session_key(path: Path) -> bytes:
    """The key that signs session cookies, made on first start and kept (0600) so sign-ins outlive a restart."""
    try:
        key = path.read_bytes()
        if len(key) == KEY_BYTES:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    os.replace(tmp, path)
    return key


def routes(ctx: ApiContext) -> list[Route]:
    return []
