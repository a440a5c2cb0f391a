"""Telegram channel: one ``sendMessage`` call of the Bot API per warning, to the chat id the recipient registered.

The Bot API answers every call with a JSON envelope: ``{"ok": true, "result": Message}`` or ``{"ok": false,
"error_code": int, "description": str, "parameters": {"retry_after": s, "migrate_to_chat_id": id}}``; the
HTTP status mirrors ``error_code``. The token is part of the URL path (``/bot<token>/sendMessage``), which is why
no URL and no exception text carrying it ever reaches a message or a log (docs/warnings-chat.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, Literal

import aiohttp
from pydantic import Field, HttpUrl

from hub.secret import Secret
from hub.warn.channels.base import Channel, ChannelConfig, ChannelError, Receipt
from hub.warn.channels.registry import CHANNELS
from hub.warn.message import WarningMessage

log = logging.getLogger(__name__)

USER_AGENT = "iocgw-hub"
# sendMessage takes 1-4096 characters of text (after entity parsing; plain text has no entities). Telegram
# counts UTF-16 code units, as its entity offsets do; Vietnamese letters are one unit each.
MAX_TEXT = 4096
_TOKEN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
_ELLIPSIS = "…"


class TelegramConfig(ChannelConfig):
    """The bot's token and where the Bot API lives."""

    type: Literal["telegram"] = "telegram"
    token: Secret = Field(description="Bot token from @BotFather (123456:ABC...), from an environment variable or file")
    base_url: HttpUrl = Field(
        HttpUrl("https://api.telegram.org"),
        description="Bot API server: Telegram's, or a self-hosted telegram-bot-api server",
    )
    include_en: bool = Field(False, description="Append the English text below the Vietnamese one")
    disable_link_preview: bool = Field(True, description="No preview card for the status page link")
    verify_tls: bool = Field(True, description="Check the Bot API server's TLS certificate")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` UTF-16 units, ending with an ellipsis when it was cut."""
    if utf16_len(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1  # an emoji outside the BMP takes two units
        if used + width > limit - len(_ELLIPSIS):
            break
        kept.append(ch)
        used += width
    return "".join(kept).rstrip() + _ELLIPSIS


def message_text(message: WarningMessage, include_en: bool) -> str:
    """Vietnamese first; English below it when asked for and when both fit, since the Vietnamese text is the one
    that must arrive whole."""
    vi = message.text_vi.strip()
    en = message.text_en.strip()
    if include_en and en:
        both = f"{vi}\n\n{en}"
        if utf16_len(both) <= MAX_TEXT:
            return both
    return _cut(vi, MAX_TEXT)


def _describe(doc: Any, status: int) -> tuple[int, str, dict[str, Any]]:
    """(error code, description, parameters) from an error envelope; the HTTP status where the body is not one."""
    if isinstance(doc, dict):
        code = doc.get("error_code")
        params = doc.get("parameters")
        return (
            code if isinstance(code, int) else status,
            " ".join(str(doc.get("description", "")).split())[:200],
            params if isinstance(params, dict) else {},
        )
    return status, "", {}


@CHANNELS.register("telegram", TelegramConfig)
class TelegramChannel(Channel):
    """200 with ``ok`` is delivered; 429 (flood control, ``retry_after`` honoured), 5xx, timeouts and a refused
    token are retried; 400 (chat not found, bad request) and 403 (the user blocked the bot, the bot was removed from
    the group) are final: sending the same message again gets the same answer."""

    config: TelegramConfig

    def __init__(self, config: ChannelConfig) -> None:
        super().__init__(config)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s), headers={"User-Agent": USER_AGENT}
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _token(self) -> str:
        # Read at each attempt, as the SMTP password is: a replaced token file is used without a restart.
        try:
            token = (await asyncio.to_thread(self.config.token.read)).strip()
        except (OSError, ValueError) as exc:
            raise ChannelError(f"telegram {self.name}: bot token unavailable: {exc}", retryable=True) from None
        if not _TOKEN.match(token):
            # Checked so that a stray '/' or '?' cannot change the URL; the value itself is never shown.
            raise ChannelError(f"telegram {self.name}: bot token malformed (expected <digits>:<key>)", retryable=True)
        return token

    async def send(self, message: WarningMessage) -> Receipt:
        if self._session is None:
            raise ChannelError(f"telegram {self.name}: channel not started", retryable=True)
        token = await self._token()
        body: dict[str, Any] = {"chat_id": message.address, "text": message_text(message, self.config.include_en)}
        if self.config.disable_link_preview:
            body["link_preview_options"] = {"is_disabled": True}
        url = f"{str(self.config.base_url).rstrip('/')}/bot{token}/sendMessage"
        what = f"telegram {self.name}"
        try:
            async with self._session.post(
                url,
                data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                allow_redirects=False,
                ssl=self.config.verify_tls,
            ) as resp:
                status = resp.status
                text = await resp.text(errors="replace")
                retry_header = resp.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # Only the exception's class: aiohttp's messages can quote the URL, and the URL holds the token.
            raise ChannelError(f"{what}: Bot API unreachable ({type(exc).__name__})", retryable=True) from None
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if 200 <= status < 300 and isinstance(doc, dict) and doc.get("ok") is True:
            result = doc.get("result")
            message_id = result.get("message_id") if isinstance(result, dict) else None
            return Receipt("delivered", str(message_id) if message_id is not None else None, "sent to the chat")
        raise self._error(what, status, doc, retry_header, token)

    def _error(self, what: str, status: int, doc: Any, retry_header: str | None, token: str) -> ChannelError:
        code, description, params = _describe(doc, status)
        description = description.replace(token, "[redacted]")
        detail = f"{what}: Bot API error {code}" + (f": {description}" if description else "")
        if code == 429:
            retry_after = params.get("retry_after")
            if not isinstance(retry_after, (int, float)) and retry_header and retry_header.strip().isdigit():
                retry_after = int(retry_header)
            wait = float(retry_after) if isinstance(retry_after, (int, float)) else None
            return ChannelError(detail, retryable=True, retry_after_s=wait)
        if code >= 500 or status >= 500 or code == 408:
            return ChannelError(detail, retryable=True)
        if code in (401, 404):
            # The Bot API answers 401/404 for a revoked or mistyped token: the operator's fix, after which the
            # queued warnings should still go out, so retried (the token is read again at each attempt).
            return ChannelError(detail, retryable=True)
        if "migrate_to_chat_id" in params:
            detail += f" (the group is now chat {params['migrate_to_chat_id']}: update the recipient list)"
        if doc is None and 200 <= status < 300:
            return ChannelError(f"{what}: Bot API answered HTTP {status} without a JSON envelope", retryable=True)
        return ChannelError(detail, retryable=False)
