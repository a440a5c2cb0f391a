"""Webhook target: a signed JSON POST per notification.

The signature is HMAC-SHA256 over ``"<timestamp>.<body>"`` with a shared secret, sent as
``X-Iocgw-Signature: sha256=<hex>`` next to ``X-Iocgw-Timestamp: <unix seconds>``. Signing the timestamp lets a
receiver reject a captured request replayed later; ``X-Iocgw-Delivery`` (the notification id) lets it drop
duplicates, since delivery is at least once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Literal

import aiohttp
from pydantic import Field, HttpUrl, field_validator

from hub.alerts.notify._http import USER_AGENT, post
from hub.alerts.notify.base import Notification, Notifier, NotifierConfig, NotifyError
from hub.alerts.notify.registry import register_notifier
from hub.secret import Secret

SIGNATURE_HEADER = "X-Iocgw-Signature"
TIMESTAMP_HEADER = "X-Iocgw-Timestamp"
DELIVERY_HEADER = "X-Iocgw-Delivery"
DEFAULT_TOLERANCE_S = 300.0
_RESERVED = {h.lower() for h in (SIGNATURE_HEADER, TIMESTAMP_HEADER, DELIVERY_HEADER, "content-type", "content-length")}


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Iocgw-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds as text)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    digest = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str | bytes,
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    *,
    now: float | None = None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is within ``tolerance_s`` of its clock."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance_s:
        return False  # too old (a replay) or too far ahead
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookConfig(NotifierConfig):
    """Where to POST and the secret to sign with."""

    type: Literal["webhook"] = "webhook"
    url: HttpUrl = Field(description="Receiver URL, http or https")
    secret: Secret = Field(description="Shared HMAC key, from an environment variable or a file")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers, e.g. an API key for a gateway in front"
    )
    verify_tls: bool = Field(True, description="Check the receiver's TLS certificate")

    @field_validator("headers")
    @classmethod
    def _not_reserved(cls, headers: dict[str, str]) -> dict[str, str]:
        clash = sorted(h for h in headers if h.lower() in _RESERVED)
        if clash:
            raise ValueError(f"headers set by the notifier cannot be overridden: {', '.join(clash)}")
        return headers


@register_notifier("webhook", WebhookConfig)
class WebhookNotifier(Notifier):
    """2xx is delivered; 408, 429 and 5xx are retried (Retry-After honoured); other statuses are final."""

    config: WebhookConfig

    def __init__(self, config: NotifierConfig) -> None:
        super().__init__(config)
        self._session: aiohttp.ClientSession | None = None
        self._secret = b""

    async def start(self) -> None:
        self._secret = (await asyncio.to_thread(self.config.secret.read)).encode("utf-8")  # a file, perhaps
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s), headers={"User-Agent": USER_AGENT}
        )

    async def send(self, notification: Notification) -> None:
        if self._session is None:
            raise NotifyError("webhook notifier not started", retryable=True)
        body = notification.body()
        timestamp = str(int(time.time()))
        headers = {
            **self.config.headers,
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: notification.id,
        }
        await post(self._session, f"webhook {self.name}", str(self.config.url), body, headers, self.config.verify_tls)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
