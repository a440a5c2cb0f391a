"""Session cookies: what a signed-in browser sends instead of its token.

The cookie holds who signed in, a prefix of their token's hash, when it expires and a random id, signed with the
hub's session key (HMAC-SHA256). Nothing is stored per session: a restart keeps everyone signed in (the key is kept
in the data dir), and removing or rotating a token in the config ends its sessions at once, because the hash prefix
no longer matches. Signing out ends that one session (its id is refused until it would have expired anyway)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hub.api.auth import ApiSettings, ApiToken
from hub.api.console_settings import ConsoleSettings, CookieSecure

COOKIE = "iocgw_session"
# A request that changes something and is authenticated by the cookie must carry this header: a page on another site
# can make the browser send the cookie (SameSite=Strict aside, on old browsers) but cannot add a custom header.
CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "iocgw"
HASH_PREFIX = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SessionCookies:
    key: bytes
    settings: ConsoleSettings = field(default_factory=ConsoleSettings)
    _ended: dict[str, float] = field(default_factory=dict)  # session id -> when it would expire
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def max_age_s(self) -> int:
        return int(self.settings.session_hours * 3600)

    def issue(self, holder: ApiToken, now: float | None = None) -> tuple[str, float]:
        """(the cookie's value, when it expires, epoch seconds)."""
        expires = (now if now is not None else time.time()) + self.max_age_s
        claims = {"n": holder.name, "h": holder.token_sha256[:HASH_PREFIX], "e": int(expires)}
        claims["i"] = secrets.token_hex(8)
        body = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        return f"{body}.{self._sign(body)}", float(int(expires))

    def holder(self, value: str | None, auth: ApiSettings, now: float | None = None) -> ApiToken | None:
        """The token holder a cookie value stands for, or None (forged, expired, ended, or the token is gone)."""
        claims = self._claims(value)
        if claims is None:
            return None
        now = now if now is not None else time.time()
        if not isinstance(claims.get("e"), int) or claims["e"] <= now:
            return None
        with self._lock:
            if claims.get("i") in self._ended:
                return None
        for t in auth.tokens:
            if t.name == claims.get("n") and hmac.compare_digest(t.token_sha256[:HASH_PREFIX], str(claims.get("h"))):
                return t
        return None

    def end(self, value: str | None, now: float | None = None) -> None:
        """Sign out: this cookie is refused from now on, even if a copy of it is replayed."""
        claims = self._claims(value)
        if claims is None:
            return
        now = now if now is not None else time.time()
        with self._lock:
            self._ended = {i: e for i, e in self._ended.items() if e > now}  # forget those that expired anyway
            self._ended[str(claims.get("i"))] = float(claims.get("e", now))

    def secure(self, scheme: str, forwarded_proto: str | None) -> bool:
        if self.settings.cookie_secure is CookieSecure.ALWAYS:
            return True
        if self.settings.cookie_secure is CookieSecure.NEVER:
            return False
        return scheme == "https" or (forwarded_proto or "").lower() == "https"

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.key, body.encode("utf-8", "replace"), hashlib.sha256).digest())

    def _claims(self, value: str | None) -> dict[str, Any] | None:
        if not value or value.count(".") != 1:
            return None
        body, sig = value.split(".")
        if not hmac.compare_digest(self._sign(body), sig):
            return None
        try:
            claims = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError):
            return None
        return claims if isinstance(claims, dict) else None
