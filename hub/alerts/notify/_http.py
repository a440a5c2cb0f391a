"""HTTP helpers the webhook and Grafana notifiers share: one POST, and what a status code means for retrying."""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

import aiohttp

from hub.alerts.notify.base import NotifyError

USER_AGENT = "iocgw-hub"
# Statuses a client may retry although they are 4xx (RFC 9110: request timeout; RFC 6585: too many requests).
RETRYABLE_4XX = frozenset({408, 429})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def check_status(what: str, status: int, headers: Mapping[str, str], text: str) -> None:
    """Return for 2xx; otherwise raise NotifyError saying whether a retry can help."""
    if 200 <= status < 300:
        return
    excerpt = " ".join(text.split())[:200]
    message = f"{what} answered HTTP {status}: {excerpt}" if excerpt else f"{what} answered HTTP {status}"
    if status in RETRYABLE_4XX or status >= 500:
        raise NotifyError(message, retryable=True, retry_after_s=parse_retry_after(headers.get("Retry-After")))
    # Other 4xx: the request itself is wrong (bad token, bad URL, rejected body); sending it again cannot help.
    # 3xx: redirects are not followed, since a POST body must not silently turn into a GET elsewhere.
    raise NotifyError(message, retryable=False)


async def post(
    session: aiohttp.ClientSession, what: str, url: str, body: bytes, headers: Mapping[str, str], verify_tls: bool
) -> str:
    """POST ``body`` and return the response text; NotifyError on any failure."""
    try:
        async with session.post(url, data=body, headers=dict(headers), allow_redirects=False, ssl=verify_tls) as resp:
            text = await resp.text(errors="replace")
            check_status(what, resp.status, resp.headers, text)
            return text
    except NotifyError:
        raise
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise NotifyError(f"{what} unreachable: {type(exc).__name__}: {exc}", retryable=True) from exc
