"""Zalo channel: an Official Account message to a Zalo user id (mode ``oa``) or a ZNS template message to a phone
number (mode ``zns``), with the OA's OAuth v4 access token kept fresh.

Zalo answers HTTP 200 with ``{"error": <code>, "message": ..., "data": ...}``: 0 is success, anything else a
refusal whose code says why. An access token lives about a day (``expires_in``); refreshing it consumes the refresh
token and returns a new one, so the new one is written to the state file (atomically) before it is used: a crash
after a refresh must not leave the hub holding a spent token. Refreshes are serialised, so concurrent sends that
all meet an expired token cause one refresh, not one each (a second refresh would spend the token the first got).
Error codes and where they were read: docs/warnings-chat.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import aiohttp
from pydantic import Field, HttpUrl, model_validator

from hub.secret import Secret
from hub.warn.channels.base import Channel, ChannelConfig, ChannelError, Receipt
from hub.warn.channels.registry import CHANNELS
from hub.warn.message import WarningMessage

log = logging.getLogger(__name__)

USER_AGENT = "iocgw-hub"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
OA_MESSAGE_PATH = "/v3.0/oa/message/cs"
ZNS_MESSAGE_PATH = "/message/template"
OAUTH_REFRESH_PATH = "/v4/oa/access_token"

# The WarningMessage fields a ZNS template parameter may be filled from.
TemplateField = Literal[
    "text_vi", "text_en", "hazard", "severity", "area", "alarm_id", "transition", "created_at", "recipient_id"
]
# Vietnamese mobile numbers: 84 then a 9-digit subscriber number starting 3, 5, 7, 8 or 9 (the 2018 numbering).
_VN_MOBILE = re.compile(r"^84[35789][0-9]{8}$")
_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ELLIPSIS = "…"


class ZaloConfig(ChannelConfig):
    """The OA's app, its tokens, and what to send."""

    type: Literal["zalo"] = "zalo"
    mode: Literal["oa", "zns"] = Field(
        "oa", description="oa: a text message to a Zalo user id; zns: an approved ZNS template to a phone number"
    )
    app_id: str = Field(pattern=r"^[0-9]+$", description="Zalo app id (Zalo for Developers) linked to the OA")
    secret_key: Secret = Field(description="The app's secret key, sent as the secret_key header when refreshing")
    refresh_token: Secret = Field(
        description="The first refresh token, from authorising the app on the OA. Used until the state file holds "
        "a newer one, and again if that one is refused (put a fresh one here after re-authorising)"
    )
    state_dir: Path = Field(
        description="Directory for zalo-<name>.json, which keeps the current refresh and access token across "
        "restarts (created if missing, file mode 0600); give an absolute path on persistent storage"
    )
    template_id: str | None = Field(None, description="mode zns: the approved ZNS template's id")
    template_params: dict[str, TemplateField] = Field(
        default_factory=dict,
        description="mode zns: template parameter -> warning field (text_vi, text_en, hazard, severity, area, "
        "alarm_id, transition, created_at as 'HH:MM dd/mm/YYYY' Vietnam time, recipient_id)",
    )
    include_en: bool = Field(False, description="mode oa: append the English text below the Vietnamese one")
    max_text_chars: int = Field(2000, ge=1, description="mode oa: longest text sent; longer is cut with '…'")
    oa_base_url: HttpUrl = Field(HttpUrl("https://openapi.zalo.me"), description="Official Account API")
    zns_base_url: HttpUrl = Field(HttpUrl("https://business.openapi.zalo.me"), description="ZNS API")
    oauth_base_url: HttpUrl = Field(HttpUrl("https://oauth.zaloapp.com"), description="OAuth v4 server")
    token_error_codes: list[int] = Field(
        default_factory=lambda: [-216, -124],
        description="Codes meaning the access token is invalid or expired: refresh once and retry once",
    )
    retryable_error_codes: list[int] = Field(
        default_factory=lambda: [-100, -115],
        description="Codes worth retrying later (unknown error, quota); every other non-zero code is final",
    )
    refresh_margin_s: float = Field(300.0, ge=0, description="Refresh this long before the access token expires")
    verify_tls: bool = Field(True, description="Check the Zalo servers' TLS certificates")

    @model_validator(mode="after")
    def _zns_template(self) -> ZaloConfig:
        if self.mode == "zns" and (not self.template_id or not self.template_params):
            raise ValueError("mode zns needs template_id and template_params")
        return self


@dataclass
class TokenState:
    """What the state file keeps: the refresh token not yet spent, and the access token it last bought."""

    refresh_token: str
    access_token: str | None = None
    expires_at: float = 0.0  # unix time
    updated_at: float = 0.0


class TokenStore:
    """One small JSON file, replaced atomically (write a temporary file, fsync, rename, fsync the directory)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> TokenState | None:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            return TokenState(
                refresh_token=str(doc["refresh_token"]),
                access_token=doc.get("access_token"),
                expires_at=float(doc.get("expires_at", 0.0)),
                updated_at=float(doc.get("updated_at", 0.0)),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Unreadable: the configured refresh token is the way back in, so carry on without the file.
            log.error("zalo token state %s unreadable (%s); using the configured refresh token", self.path, exc)
            return None

    def save(self, state: TokenState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(asdict(state), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)


def zns_phone(address: str) -> str:
    """A Vietnamese mobile number as ZNS takes it (84xxxxxxxxx), from +84..., 84... or 0...; ValueError otherwise."""
    digits = re.sub(r"[\s.()-]", "", address)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("0") and not digits.startswith("00"):
        digits = "84" + digits[1:]
    if not _VN_MOBILE.match(digits):
        raise ValueError(f"not a Vietnamese mobile number: {address!r}")
    return digits


def template_data(message: WarningMessage, params: dict[str, TemplateField]) -> dict[str, str]:
    """The ZNS ``template_data``: each template parameter filled from its warning field, always as text."""
    data: dict[str, str] = {}
    for param, field in params.items():
        if field == "created_at":
            data[param] = message.created_at.astimezone(VIETNAM).strftime("%H:%M %d/%m/%Y")
        else:
            data[param] = str(getattr(message, field))
    return data


def oa_text(message: WarningMessage, include_en: bool, limit: int) -> str:
    vi = message.text_vi.strip()
    en = message.text_en.strip()
    if include_en and en and len(f"{vi}\n\n{en}") <= limit:
        return f"{vi}\n\n{en}"
    return vi if len(vi) <= limit else vi[: limit - len(_ELLIPSIS)].rstrip() + _ELLIPSIS


def _retry_after(value: str | None) -> float | None:
    return float(value) if value and value.strip().isdigit() else None


@dataclass(frozen=True)
class _Request:
    url: str
    body: dict[str, Any]


@CHANNELS.register("zalo", ZaloConfig)
class ZaloChannel(Channel):
    """Error 0 is accepted; a token-expired code costs one refresh and one retry; codes listed as retryable, HTTP
    408/429/5xx, timeouts and an unusable token are retried by the outbox; any other code (invalid phone, template,
    user) is final. An OA message taken by Zalo is in the user's chat: ``delivered``; a ZNS message is ``sent``,
    since Zalo may still fail to put it on the phone."""

    config: ZaloConfig

    def __init__(self, config: ChannelConfig, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config)
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._store = TokenStore(self.config.state_dir / f"zalo-{self.config.name}.json")
        self._state: TokenState | None = None
        self._refresh_lock = asyncio.Lock()
        self.refreshes = 0  # successful refreshes since start, for tests and metrics

    async def start(self) -> None:
        self._state = await asyncio.to_thread(self._store.load)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s), headers={"User-Agent": USER_AGENT}
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, message: WarningMessage) -> Receipt:
        if self._session is None:
            raise ChannelError(f"zalo {self.name}: channel not started", retryable=True)
        request = self._request(message)  # a bad address fails here, before any token is spent
        token = await self._access_token()
        code, doc = await self._post(request, token)
        if code in self.config.token_error_codes:
            token = await self._refresh(stale=token)
            code, doc = await self._post(request, token)
            if code in self.config.token_error_codes:
                raise ChannelError(
                    f"zalo {self.name}: access token refused right after a refresh (error {code}): re-authorise "
                    "the app on the OA",
                    retryable=True,
                )
        return self._verdict(code, doc)

    def _request(self, message: WarningMessage) -> _Request:
        cfg = self.config
        if cfg.mode == "zns":
            try:
                phone = zns_phone(message.address)
            except ValueError as exc:
                raise ChannelError(f"zalo {self.name}: {exc}", retryable=False) from None
            assert cfg.template_id is not None  # the config's validator saw to it
            body = {
                "phone": phone,
                "template_id": cfg.template_id,
                "template_data": template_data(message, cfg.template_params),
                # The idempotency key: the same alarm change to the same person carries the same tracking id, so
                # a resend after an ambiguous failure can be matched to the first in Zalo's reports.
                "tracking_id": message.id,
            }
            return _Request(f"{str(cfg.zns_base_url).rstrip('/')}{ZNS_MESSAGE_PATH}", body)
        if not _USER_ID.match(message.address):
            raise ChannelError(f"zalo {self.name}: not a Zalo user id: {message.address!r}", retryable=False)
        body = {
            "recipient": {"user_id": message.address},
            "message": {"text": oa_text(message, cfg.include_en, cfg.max_text_chars)},
        }
        return _Request(f"{str(cfg.oa_base_url).rstrip('/')}{OA_MESSAGE_PATH}", body)

    async def _post(self, request: _Request, token: str) -> tuple[int, dict[str, Any]]:
        """(Zalo's error code, the reply) for one call; ChannelError for HTTP and network failures."""
        assert self._session is not None
        what = f"zalo {self.name}"
        try:
            async with self._session.post(
                request.url,
                data=json.dumps(request.body, ensure_ascii=False).encode("utf-8"),
                headers={"access_token": token, "Content-Type": "application/json; charset=utf-8"},
                allow_redirects=False,
                ssl=self.config.verify_tls,
            ) as resp:
                status = resp.status
                text = await resp.text(errors="replace")
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ChannelError(f"{what}: Zalo unreachable ({type(exc).__name__})", retryable=True) from None
        if status == 429 or status == 408 or status >= 500:
            raise ChannelError(f"{what}: Zalo answered HTTP {status}", retryable=True, retry_after_s=retry_after)
        if not 200 <= status < 300:
            raise ChannelError(f"{what}: Zalo answered HTTP {status}", retryable=False)
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("error"), int):
            raise ChannelError(f"{what}: Zalo's answer has no error code", retryable=True)
        return doc["error"], doc

    def _verdict(self, code: int, doc: dict[str, Any]) -> Receipt:
        data = doc.get("data")
        if not isinstance(data, dict):
            data = {}
        if code == 0:
            if self.config.mode == "zns":
                msg_id = data.get("msg_id")
                return Receipt("sent", str(msg_id) if msg_id is not None else None, "accepted by ZNS")
            message_id = data.get("message_id")
            return Receipt("delivered", str(message_id) if message_id is not None else None, "sent to the user")
        text = " ".join(str(doc.get("message", "")).split())[:200]
        detail = f"zalo {self.name}: Zalo error {code}" + (f": {text}" if text else "")
        raise ChannelError(detail, retryable=code in self.config.retryable_error_codes)

    # --- tokens -----------------------------------------------------------------------------------------------

    def _fresh(self, state: TokenState | None) -> str | None:
        if state is None or not state.access_token:
            return None
        return state.access_token if self._clock() < state.expires_at - self.config.refresh_margin_s else None

    async def _access_token(self) -> str:
        token = self._fresh(self._state)
        if token is not None:
            return token
        return await self._refresh(stale=self._state.access_token if self._state else None)

    async def _refresh(self, stale: str | None) -> str:
        """A new access token, unless another send got one while this one waited for the lock."""
        async with self._refresh_lock:
            current = self._fresh(self._state)
            if current is not None and current != stale:
                return current
            secret = await self._read(self.config.secret_key, "secret key")
            configured = await self._read(self.config.refresh_token, "refresh token", required=False)
            stored = self._state.refresh_token if self._state else None
            candidates: list[str] = []
            for token in (stored, configured):
                if token and token not in candidates:
                    candidates.append(token)
            if not candidates:
                raise ChannelError(f"zalo {self.name}: no refresh token (configured or stored)", retryable=True)
            refused: list[str] = []
            for refresh_token in candidates:
                # Only a refusal moves on to the next candidate; a network failure leaves the stored token unspent.
                reply = await self._call_oauth(refresh_token, secret)
                if "access_token" in reply:
                    return await self._adopt(reply, refresh_token)
                refused.append(reply["_refused"])
            raise ChannelError(
                f"zalo {self.name}: refresh token refused ({'; '.join(refused)}): re-authorise the app on the OA and "
                "put the new refresh token where refresh_token points",
                retryable=True,
            )

    async def _read(self, secret: Secret, what: str, required: bool = True) -> str:
        try:
            return (await asyncio.to_thread(secret.read)).strip()
        except (OSError, ValueError) as exc:
            if not required:
                return ""
            raise ChannelError(f"zalo {self.name}: {what} unavailable: {exc}", retryable=True) from None

    async def _call_oauth(self, refresh_token: str, secret: str) -> dict[str, Any]:
        """The OAuth server's reply; ``{"_refused": why}`` when it refused the token, ChannelError when unreachable."""
        assert self._session is not None
        url = f"{str(self.config.oauth_base_url).rstrip('/')}{OAUTH_REFRESH_PATH}"
        form = {"refresh_token": refresh_token, "app_id": self.config.app_id, "grant_type": "refresh_token"}
        try:
            async with self._session.post(
                url, data=form, headers={"secret_key": secret}, allow_redirects=False, ssl=self.config.verify_tls
            ) as resp:
                status = resp.status
                text = await resp.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            why = f"OAuth server unreachable ({type(exc).__name__})"
            raise ChannelError(f"zalo {self.name}: {why}", retryable=True) from None
        if status >= 500 or status in (408, 429):
            raise ChannelError(f"zalo {self.name}: OAuth server answered HTTP {status}", retryable=True)
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise ChannelError(f"zalo {self.name}: OAuth server answered HTTP {status} without JSON", retryable=True)
        if isinstance(doc.get("access_token"), str) and doc["access_token"]:
            return doc
        why = " ".join(str(doc.get("error_description") or doc.get("error_name") or doc.get("message") or "").split())
        return {"_refused": f"error {doc.get('error')}: {why[:160]}" if why else f"error {doc.get('error')}"}

    async def _adopt(self, reply: dict[str, Any], spent: str) -> str:
        new_refresh = reply.get("refresh_token")
        if not isinstance(new_refresh, str) or not new_refresh:
            log.warning("zalo %s: the refresh answer held no new refresh token; keeping the one used", self.name)
            new_refresh = spent
        try:
            lifetime = float(reply.get("expires_in", 0))  # Zalo sends it as a string of seconds
        except (TypeError, ValueError):
            lifetime = 0.0
        now = self._clock()
        state = TokenState(new_refresh, reply["access_token"], now + lifetime, now)
        try:
            await asyncio.to_thread(self._store.save, state)
        except OSError as exc:
            # The old refresh token is spent already: keep working on the new one, and say loudly that a restart
            # before the next successful save would need re-authorising.
            log.error("zalo %s: could not save the new refresh token to %s: %s", self.name, self._store.path, exc)
        self._state = state
        self.refreshes += 1
        # Not "token refreshed": the log redaction takes a long word after "token" for the token itself.
        log.info("zalo %s: refreshed its access token, valid for %.0f s", self.name, lifetime)
        return state.access_token or ""
