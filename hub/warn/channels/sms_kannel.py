"""SMS channel: one request to a Kannel smsbox's ``sendsms`` interface per warning.

Kannel (bearerbox + smsbox) holds the link to the carrier's SMSC or a brand-name SMS provider over SMPP, splits
long texts into concatenated parts and calls the ``dlr-url`` given with each message when the SMSC reports on it.
The hub puts the message id in that URL, so a report finds its message without Kannel's own ids
(docs/warnings-sms.md).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Literal
from urllib.parse import quote

import aiohttp
from pydantic import ConfigDict, Field, HttpUrl, field_validator

from hub.secret import Secret
from hub.warn.channels.base import Channel, ChannelConfig, ChannelError, Receipt
from hub.warn.channels.registry import CHANNELS
from hub.warn.message import WarningMessage
from hub.warn.phone import normalise_vn_mobile
from hub.warn.sms_text import SmsPlan, fit_sms

log = logging.getLogger(__name__)

USER_AGENT = "iocgw-hub"
CODING = {"gsm7": "0", "ucs2": "2"}  # Kannel's sendsms ``coding``: 0 = 7-bit, 2 = UCS-2
# Kannel's DLR types, the bits of dlr-mask.
DLR_DELIVERED = 1
DLR_UNDELIVERED = 2
DLR_BUFFERED = 4
DLR_SMSC_ACCEPTED = 8
DLR_SMSC_REJECTED = 16
DLR_ALL = 31
# Alphanumeric sender ids are at most 11 characters (GSM 03.40); a numeric one, a phone number.
_SENDER = re.compile(r"^(?:[A-Za-z0-9 ._-]{1,11}|\+?[0-9]{3,15})$")


def dlr_state(code: int) -> Literal["delivered", "failed", "sent"]:
    """A Kannel DLR type in the outbox's terms: 1 delivered; 2 and 16 failed; 4 and 8 (on the SMSC) still sent.

    Bits can come combined; the phone's word wins over the SMSC's, and a failure over a buffered state.
    """
    if code & DLR_DELIVERED:
        return "delivered"
    if code & (DLR_UNDELIVERED | DLR_SMSC_REJECTED):
        return "failed"
    return "sent"


class KannelConfig(ChannelConfig):
    """Where the smsbox's sendsms interface is, how to log in, and what each SMS asks of it."""

    type: Literal["sms_kannel"] = "sms_kannel"
    sendsms_url: HttpUrl = Field(description="smsbox sendsms interface, e.g. http://127.0.0.1:13013/cgi-bin/sendsms")
    username: str = Field(min_length=1, description="A sendsms-user group's username")
    password: Secret = Field(description="That user's password, from an environment variable or a file")
    sender: str = Field(
        alias="from",
        description="Sender id shown on the phone: a registered brand name (at most 11 characters) or a number",
    )
    dlr_url: str | None = Field(
        None,
        description="Where Kannel reports delivery: the hub's /api/warnings/dlr/kannel with {id} for the message "
        "id, {key} for dlr_key and Kannel's escapes (%d the report type, %A the SMSC's reply); unset: no reports",
    )
    dlr_key: Secret | None = Field(None, description="Put in the dlr_url's {key}: the hub's dlr_token")
    dlr_mask: int = Field(DLR_ALL, ge=1, le=31, description="Which reports to ask for (Kannel's dlr-mask bits)")
    max_parts: int = Field(
        6, ge=1, le=255, description="Most parts one SMS may take; a longer text is cut to fit (each part is billed)"
    )
    smsc_id: str | None = Field(None, description="Route through this Kannel SMSC (its smsc-id); default: any")
    verify_tls: bool = Field(True, description="Check the smsbox's TLS certificate (https)")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)  # "from" in YAML, sender in Python

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not _SENDER.match(value):
            raise ValueError("sender id: up to 11 letters, digits, spaces, '.', '_', '-', or a phone number")
        return value

    @field_validator("dlr_url")
    @classmethod
    def _dlr_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("dlr_url must be an http or https URL")
        if "{id}" not in value:
            raise ValueError("dlr_url needs {id}: without the message id a report cannot be matched")
        return value


def report_url(template: str, message_id: str, key: str = "") -> str:
    """The dlr-url for one message: ``{id}`` and ``{key}`` filled in, Kannel's own %-escapes left for Kannel.

    Kannel replaces ``%x`` sequences in the URL when it calls it, and percent-encoding produces some (``%C3`` of a
    UTF-8 letter would become the coding): every ``%`` of the filled-in values is doubled, which Kannel turns back
    into one.
    """
    return template.replace("{id}", quote(message_id, safe="").replace("%", "%%")).replace(
        "{key}", quote(key, safe="").replace("%", "%%")
    )


@CHANNELS.register("sms_kannel", KannelConfig)
class KannelChannel(Channel):
    """202 from smsbox is accepted (``sent``; the delivery report comes later); other 4xx (bad login, bad number,
    refused text) are final; 5xx, 408/429, timeouts and a smsbox that cannot be reached are retried."""

    config: KannelConfig

    def __init__(self, config: ChannelConfig) -> None:
        super().__init__(config)
        self._session: aiohttp.ClientSession | None = None

    @property
    def reports(self) -> bool:
        return self.config.dlr_url is not None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s), headers={"User-Agent": USER_AGENT}
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _secret(self, secret: Secret, what: str) -> str:
        # Read at each attempt, as the SMTP password is: a replaced file is used without a restart.
        try:
            return await asyncio.to_thread(secret.read)
        except (OSError, ValueError) as exc:
            raise ChannelError(f"sms {self.name}: {what} unavailable: {exc}", retryable=True) from None

    def plan(self, message: WarningMessage) -> SmsPlan:
        """What this channel sends for ``message``: its encoding's form, cut to ``max_parts``."""
        return fit_sms(message.text_vi, message.sms_encoding, self.config.max_parts)

    async def params(self, message: WarningMessage) -> dict[str, str]:
        """The sendsms query for ``message``; ChannelError (final) for a number no SMS can reach."""
        try:
            to = normalise_vn_mobile(message.address)
        except ValueError as exc:
            raise ChannelError(f"sms {self.name}: bad number {message.address!r}: {exc}", retryable=False) from None
        plan = self.plan(message)
        if not plan.parts:
            raise ChannelError(f"sms {self.name}: message {message.id} has no text", retryable=False)
        params = {
            "username": self.config.username,
            "password": await self._secret(self.config.password, "password"),
            "from": self.config.sender,
            "to": to,
            "text": plan.text_as_sent,
            "coding": CODING[plan.encoding],
            # aiohttp percent-encodes the query as UTF-8; Kannel converts from it to what the SMSC needs.
            "charset": "UTF-8",
        }
        if self.config.smsc_id:
            params["smsc"] = self.config.smsc_id
        if self.config.dlr_url:
            key = await self._secret(self.config.dlr_key, "dlr_key") if self.config.dlr_key else ""
            params["dlr-mask"] = str(self.config.dlr_mask)
            params["dlr-url"] = report_url(self.config.dlr_url, message.id, key)
        return params

    async def send(self, message: WarningMessage) -> Receipt:
        if self._session is None:
            raise ChannelError(f"sms {self.name}: channel not started", retryable=True)
        params = await self.params(message)
        parts = len(self.plan(message).parts)
        try:
            async with self._session.get(
                str(self.config.sendsms_url), params=params, allow_redirects=False, ssl=self.config.verify_tls
            ) as resp:
                text = " ".join((await resp.text(errors="replace")).split())[:200]
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # The URL carries the password: only the exception's type reaches the message.
            raise ChannelError(f"sms {self.name}: smsbox unreachable: {type(exc).__name__}", retryable=True) from None
        if 200 <= status < 300:
            # 202 "0: Accepted for delivery" (1.4.x), "Sent." or "3: Queued for later delivery" (older ones).
            return Receipt(state="sent", detail=f"{parts} part(s), {message.sms_encoding}: {text}")
        what = f"sms {self.name}: smsbox answered HTTP {status}: {text}"
        if status >= 500 or status in (408, 429):
            raise ChannelError(what, retryable=True)
        raise ChannelError(what, retryable=False)
