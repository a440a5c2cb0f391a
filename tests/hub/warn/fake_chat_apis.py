"""Local stand-ins for the Telegram Bot API and Zalo's OA, ZNS and OAuth v4 endpoints, as real aiohttp servers.

Each one checks every request against the documented format (method, path, headers, required fields and their
types, text length, phone format) and answers as the real service does: the success envelope, or the error the
real service gives for that mistake. Whatever a real server would have refused, or that the documentation does not
allow, is also written to ``violations``: a test ends by asserting it is empty, so a client that drifts from the
documented format fails even where the fake's answer happens to be accepted. Sources: docs/warnings-chat.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import parse_qs

import yaml
from aiohttp import web

from testkit.localsvc import free_port

TELEGRAM_TEXT_MAX = 4096  # sendMessage: "1-4096 characters after entities parsing"
TELEGRAM_FIELDS = {
    "business_connection_id",
    "chat_id",
    "message_thread_id",
    "text",
    "parse_mode",
    "entities",
    "link_preview_options",
    "disable_web_page_preview",
    "disable_notification",
    "protect_content",
    "reply_parameters",
    "reply_markup",
}
ZNS_PHONE = re.compile(r"^84[0-9]{9}$")
R = TypeVar("R")


def run(coro: Awaitable[R], timeout: float = 15.0) -> R:
    """One test coroutine with an overall deadline (pytest-asyncio is not used in this project)."""

    async def bounded() -> R:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Forced:
    """An answer given instead of the normal one (a flood-control reply, a 502, a quota code), once."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # hold the request until release() (a server that accepts and never answers)


class FakeApi:
    """The shared part: a server on 127.0.0.1, the request log, the violation list, forced answers, waiting."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.violations: list[str] = []
        self.forced: list[Forced] = []
        self._changed = asyncio.Condition()
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def violation(self, what: str) -> None:
        self.violations.append(what)

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # No access log: the fake is not the client under test, and its log line would show the bot token.
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        return self

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def release(self) -> None:
        self._released.set()

    async def wait_for(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        """Until ``check()`` holds, re-checked after every request the server handles."""

        async def waiting() -> None:
            async with self._changed:
                await self._changed.wait_for(check)

        await asyncio.wait_for(waiting(), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = Received(request.method, request.path, dict(request.headers), await request.read(), time.monotonic())
        self.received.append(seen)
        try:
            status, body, headers = await self.answer(seen)
        finally:
            await self._notify()
        return web.Response(
            status=status, text=json.dumps(body, ensure_ascii=False), headers=headers, content_type="application/json"
        )

    async def _forced(self) -> tuple[int, Any, dict[str, str]] | None:
        if not self.forced:
            return None
        f = self.forced.pop(0)
        if f.hang:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), 20)
        return f.status, f.body, f.headers

    async def answer(self, seen: Received) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegram(FakeApi):
    """``POST /bot<token>/sendMessage``, JSON body. ``blocked`` chats answer 403 (the user blocked the bot),
    chats outside ``chats`` (when given) 400 (chat not found)."""

    def __init__(self, token: str, chats: set[str] | None = None, blocked: set[str] | None = None) -> None:
        super().__init__()
        self.token = token
        self.chats = chats
        self.blocked = blocked or set()
        self.delivered: list[dict[str, Any]] = []

    @staticmethod
    def error(code: int, description: str, **params: Any) -> tuple[int, Any, dict[str, str]]:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if params:
            body["parameters"] = params
        return code, body, {}

    def flood(self, retry_after: int) -> None:
        """The next request meets flood control."""
        _, body, _ = self.error(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
        self.forced.append(Forced(429, body))

    async def answer(self, seen: Received) -> tuple[int, Any, dict[str, str]]:
        m = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", seen.path)
        if m is None:
            self.violation(f"path {seen.path!r} is not /bot<token>/<method>")
            return self.error(404, "Not Found")
        if m.group(1) != self.token:
            return self.error(401, "Unauthorized")
        if m.group(2).lower() != "sendmessage":  # method names are case-insensitive
            self.violation(f"method {m.group(2)} instead of sendMessage")
            return self.error(404, "Not Found")
        if seen.method != "POST":
            self.violation(f"{seen.method} instead of POST")
        problem = self._check_body(seen)
        if problem is not None:
            self.violation(problem)
            return self.error(400, f"Bad Request: {problem}")
        forced = await self._forced()
        if forced is not None:
            return forced
        doc = seen.json()
        chat = str(doc["chat_id"])
        if chat in self.blocked:
            return self.error(403, "Forbidden: bot was blocked by the user")
        if self.chats is not None and chat not in self.chats:
            return self.error(400, "Bad Request: chat not found")
        self.delivered.append(doc)
        message = {
            "message_id": len(self.delivered) + 100,
            "date": int(time.time()),
            "chat": {"id": int(chat) if chat.lstrip("-").isdigit() else chat, "type": "private"},
            "text": doc["text"],
        }
        return 200, {"ok": True, "result": message}, {}

    def _check_body(self, seen: Received) -> str | None:
        ctype = seen.headers.get("Content-Type", "")
        if not ctype.startswith("application/json"):
            return f"Content-Type {ctype!r}: this client sends JSON"
        try:
            doc = json.loads(seen.body.decode("utf-8", errors="strict"))
        except (UnicodeDecodeError, ValueError):
            return "body is not UTF-8 JSON"
        if not isinstance(doc, dict):
            return "body is not a JSON object"
        unknown = sorted(set(doc) - TELEGRAM_FIELDS)
        if unknown:
            return f"fields sendMessage does not have: {unknown}"
        chat = doc.get("chat_id")
        if isinstance(chat, bool) or not isinstance(chat, (int, str)):
            return "chat_id must be an Integer or a String"
        if isinstance(chat, str) and not re.fullmatch(r"-?[0-9]+|@[A-Za-z0-9_]{5,}", chat):
            return f"chat_id {chat!r} is neither a chat id nor @channelusername"
        text = doc.get("text")
        if not isinstance(text, str) or not text.strip():
            return "message text is empty"
        if utf16_len(text) > TELEGRAM_TEXT_MAX:
            return "message is too long"
        if "parse_mode" in doc and doc["parse_mode"] not in ("HTML", "Markdown", "MarkdownV2"):
            return f"unsupported parse_mode {doc['parse_mode']!r}"
        preview = doc.get("link_preview_options")
        if preview is not None and not (isinstance(preview, dict) and isinstance(preview.get("is_disabled"), bool)):
            return "link_preview_options must be an object with a Boolean is_disabled"
        return None


class FakeZalo(FakeApi):
    """Zalo's three endpoints on one server: ``/v4/oa/access_token`` (OAuth v4 refresh), ``/v3.0/oa/message/cs``
    (OA message) and ``/message/template`` (ZNS). Refresh tokens are single-use, as Zalo's are; every refresh
    issues a new access token and a new refresh token. ``expire_access_tokens()`` makes every token issued so far
    answer the expired-token code. ``hold_refresh`` holds refresh requests until it is set."""

    OA_TOKEN_INVALID = -216
    ZNS_TOKEN_INVALID = -124
    PHONE_INVALID = -108
    TEMPLATE_INVALID = -109
    TEMPLATE_DATA_INVALID = -112
    REFRESH_INVALID = -14014  # the fake's own choice: the OAuth server's code for a spent token was not found

    def __init__(
        self,
        app_id: str,
        secret_key: str,
        refresh_token: str,
        templates: dict[str, set[str]] | None = None,
        followers: set[str] | None = None,
        expires_in: int = 90000,
    ) -> None:
        super().__init__()
        self.app_id = app_id
        self.secret_key = secret_key
        self.live_refresh = {refresh_token}
        self.live_access: set[str] = set()
        self.templates = templates or {}
        self.followers = followers
        self.expires_in = expires_in
        self.refreshes = 0
        self.issued = 0
        self.hold_refresh: asyncio.Event | None = None
        self.oa_messages: list[dict[str, Any]] = []
        self.zns_messages: list[dict[str, Any]] = []
        self.token_rejections = 0

    def issue(self) -> tuple[str, str]:
        """A new access token and refresh token, as a refresh would give (also for tests that start warm)."""
        self.issued += 1
        access, refresh = f"AT-{self.issued}-fake", f"RT-{self.issued}-fake"
        self.live_access.add(access)
        self.live_refresh.add(refresh)
        return access, refresh

    def expire_access_tokens(self) -> None:
        self.live_access.clear()

    def force_error(self, code: int, message: str = "forced") -> None:
        self.forced.append(Forced(200, {"error": code, "message": message}))

    async def answer(self, seen: Received) -> tuple[int, Any, dict[str, str]]:
        if seen.method != "POST":
            self.violation(f"{seen.method} {seen.path}: every endpoint used here is POST")
        if seen.path == "/v4/oa/access_token":
            return await self._refresh(seen)
        if seen.path in ("/v3.0/oa/message/cs", "/message/template"):
            zns = seen.path == "/message/template"
            token_code = self.ZNS_TOKEN_INVALID if zns else self.OA_TOKEN_INVALID
            if seen.headers.get("access_token") not in self.live_access:
                if not seen.headers.get("access_token"):
                    self.violation(f"{seen.path}: no access_token header")
                self.token_rejections += 1
                return 200, {"error": token_code, "message": "Access token is invalid"}, {}
            refusal = self._check_zns(seen) if zns else self._check_oa(seen)
            if refusal is not None:
                return 200, refusal, {}
            forced = await self._forced()
            if forced is not None:
                return forced
            return self._accept_zns(seen) if zns else self._accept_oa(seen)
        self.violation(f"unknown path {seen.path}")
        return 404, {"error": 404, "message": "not found"}, {}

    async def _refresh(self, seen: Received) -> tuple[int, Any, dict[str, str]]:
        if self.hold_refresh is not None:
            await asyncio.wait_for(self.hold_refresh.wait(), 10)
        ctype = seen.headers.get("Content-Type", "")
        if not ctype.startswith("application/x-www-form-urlencoded"):
            self.violation(f"refresh Content-Type {ctype!r}, not a form")
        form = {k: v[0] for k, v in parse_qs(seen.body.decode("utf-8")).items()}
        if seen.headers.get("secret_key") != self.secret_key:
            self.violation("refresh without the right secret_key header")
            return 200, {"error": -14002, "error_name": "Invalid secret key"}, {}
        if form.get("app_id") != self.app_id or form.get("grant_type") != "refresh_token":
            self.violation(f"refresh form fields wrong: {sorted(form)} grant_type={form.get('grant_type')!r}")
            return 200, {"error": -14001, "error_name": "Invalid parameter"}, {}
        token = form.get("refresh_token")
        if token not in self.live_refresh:
            return (
                200,
                {
                    "error": self.REFRESH_INVALID,
                    "error_name": "Invalid refresh token",
                    "error_description": "refresh token is invalid or was used",
                },
                {},
            )
        self.live_refresh.discard(token)  # single use
        self.refreshes += 1
        access, refresh = self.issue()
        return 200, {"access_token": access, "refresh_token": refresh, "expires_in": str(self.expires_in)}, {}

    def _json(self, seen: Received) -> tuple[dict[str, Any] | None, str | None]:
        ctype = seen.headers.get("Content-Type", "")
        if not ctype.startswith("application/json"):
            return None, f"{seen.path}: Content-Type {ctype!r}, not JSON"
        try:
            doc = json.loads(seen.body.decode("utf-8", errors="strict"))
        except (UnicodeDecodeError, ValueError):
            return None, f"{seen.path}: body is not UTF-8 JSON"
        return (doc, None) if isinstance(doc, dict) else (None, f"{seen.path}: body is not an object")

    def _check_oa(self, seen: Received) -> dict[str, Any] | None:
        """None for a well-formed OA message; otherwise the refusal Zalo would give."""
        invalid = {"error": -201, "message": "Parameters invalid"}
        doc, problem = self._json(seen)
        if doc is None:
            self.violation(problem or "")
            return invalid
        recipient, message = doc.get("recipient"), doc.get("message")
        user = recipient.get("user_id") if isinstance(recipient, dict) else None
        text = message.get("text") if isinstance(message, dict) else None
        if not isinstance(user, str) or not user:
            self.violation("OA message: recipient.user_id missing or not a string")
            return invalid
        if not isinstance(text, str) or not text.strip():
            self.violation("OA message: message.text missing or empty")
            return invalid
        if len(text) > 2000:
            self.violation("OA message: text over 2000 characters")
            return invalid
        if self.followers is not None and user not in self.followers:
            return {"error": -213, "message": "User has not followed OA"}
        return None

    def _accept_oa(self, seen: Received) -> tuple[int, Any, dict[str, str]]:
        doc = seen.json()
        self.oa_messages.append(doc)
        data = {"message_id": f"oa-msg-{len(self.oa_messages)}", "user_id": doc["recipient"]["user_id"]}
        return 200, {"error": 0, "message": "Success", "data": data}, {}

    def _check_zns(self, seen: Received) -> dict[str, Any] | None:
        doc, problem = self._json(seen)
        if doc is None:
            self.violation(problem or "")
            return {"error": -111, "message": "Template data empty"}
        phone, template, data, tracking = (doc.get(k) for k in ("phone", "template_id", "template_data", "tracking_id"))
        extra = sorted(set(doc) - {"phone", "template_id", "template_data", "tracking_id", "mode"})
        if extra:
            self.violation(f"ZNS: fields the API does not have: {extra}")
        if not isinstance(phone, str) or not ZNS_PHONE.match(phone):
            self.violation(f"ZNS: phone {phone!r} is not 84xxxxxxxxx")
            return {"error": self.PHONE_INVALID, "message": "Phone number invalid"}
        if not isinstance(tracking, str) or not tracking:
            self.violation("ZNS: tracking_id missing or not a string")
        if not isinstance(template, str) or template not in self.templates:
            if not isinstance(template, str):
                self.violation("ZNS: template_id is not a string")
            return {"error": self.TEMPLATE_INVALID, "message": "Template ID invalid"}
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            self.violation("ZNS: template_data is not an object of strings")
            return {"error": self.TEMPLATE_DATA_INVALID, "message": "Template data invalid"}
        if set(data) != self.templates[template]:
            return {"error": self.TEMPLATE_DATA_INVALID, "message": "Template data invalid"}
        return None

    def _accept_zns(self, seen: Received) -> tuple[int, Any, dict[str, str]]:
        self.zns_messages.append(seen.json())
        n = len(self.zns_messages)
        data = {
            "msg_id": f"zns-{n}",
            "sent_time": str(int(time.time() * 1000)),
            "quota": {"dailyQuota": "500", "remainingQuota": str(500 - n)},
        }
        return 200, {"error": 0, "message": "Success", "data": data}, {}


def yaml_samples(kind: str) -> list[dict[str, Any]]:
    """Every mapping with ``type: <kind>`` in the docs' YAML blocks, however deep (a bare channel, a channel list,
    a whole ``warnings:`` section), from this work's page or the page it is merged into."""
    root = Path(__file__).resolve().parents[3] / "docs"
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == kind:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for name in ("warnings-chat.md", "warnings.md"):
        path = root / name
        if path.exists():
            for block in re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S):
                walk(yaml.safe_load(block))
    return found
