"""Real local servers for the notifier tests: an HTTP receiver (webhook, Grafana) and an SMTP sink."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import queue
import shutil
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from hub.alerts.alarm import Alarm, Condition, apply_condition
from hub.alerts.rules.severity import Severity
from testkit.localsvc import free_port

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
VI_MESSAGE = "Mực nước sông Hồng tại trạm Hà Nội vượt báo động 2 (10,70 m)"
R = TypeVar("R")


def run(coro: Awaitable[R], timeout: float = 25.0) -> R:
    """Run one test coroutine with an overall deadline (pytest-asyncio is not used)."""

    async def bounded() -> R:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def eventually(check: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Wait for ``check()`` to be truthy, with a deadline."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)
    return value


def make_alarm(
    severity: Severity = Severity.MAJOR,
    rule: str = "flood_level",
    subject: str = "river-x/stage",
    area: str | None = "01",
    message: str = VI_MESSAGE,
    at: datetime = T0,
) -> Alarm:
    condition = Condition(active=True, severity=severity, level=2, value=10.7, message=message)
    alarm, _ = apply_condition(None, rule, subject, condition, at, area=area)
    assert alarm is not None
    return alarm


@dataclass(frozen=True)
class Seen:
    """One request the HTTP stub received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)


class HttpStub:
    """An aiohttp server on 127.0.0.1 that records every request and answers from a script.

    ``answers`` are used in order, then ``default``; ``check`` may return an Answer to reject a request (bad
    signature, bad token); with ``hang`` set, requests are held until ``release()`` (a receiver that is down
    in the worst way: it accepts the connection and never answers).
    """

    def __init__(
        self,
        port: int | None = None,
        answers: list[Answer] | None = None,
        default: Answer | None = None,
        check: Callable[[Seen], Answer | None] | None = None,
        hang: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.answers = list(answers or [])
        self.default = default or Answer()
        self.check = check
        self.hang = hang
        self.seen: list[Seen] = []
        self._arrivals: asyncio.Queue[Seen] = asyncio.Queue()
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(request.method, request.path, dict(request.headers), await request.read(), time.monotonic())
        self.seen.append(seen)
        self._arrivals.put_nowait(seen)
        if self.hang:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), 20)
        answer = self.check(seen) if self.check is not None else None
        if answer is None:
            answer = self.answers.pop(0) if self.answers else self.default
        text = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
        ctype = "text/html" if isinstance(answer.body, str) else "application/json"
        return web.Response(status=answer.status, text=text, headers=answer.headers, content_type=ctype)

    async def start(self) -> HttpStub:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        return self

    def release(self) -> None:
        self._released.set()

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def next_request(self, timeout: float = 5.0) -> Seen:
        return await asyncio.wait_for(self._arrivals.get(), timeout)


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    login: str | None

    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]


class SmtpSink:
    """A real SMTP server (aiosmtpd, in its own thread) that keeps what it receives.

    ``users`` turns on AUTH (LOGIN/PLAIN) with these passwords; ``refuse`` lists recipients answered 550;
    ``tls_dir`` makes a self-signed certificate there and offers STARTTLS.
    """

    def __init__(
        self, users: dict[str, str] | None = None, refuse: set[str] | None = None, tls_dir: Path | None = None
    ) -> None:
        self.port = free_port()
        self.users = users or {}
        self.refuse = refuse or set()
        self._mail: queue.Queue[Mail] = queue.Queue()
        kwargs: dict[str, Any] = {}
        if self.users:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=tls_dir is not None)
        self.cert: Path | None = None
        if tls_dir is not None:
            self.cert = make_self_signed_cert(tls_dir)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert, tls_dir / "key.pem")
            kwargs.update(tls_context=context, require_starttls=True)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data if isinstance(session.auth_data, str) else None
        self._mail.put(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, login))
        return "250 Message accepted"

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    async def next_mail(self, timeout: float = 5.0) -> Mail:
        """The next message received, waiting at most ``timeout`` seconds."""
        return await asyncio.to_thread(self._mail.get, True, timeout)

    def received(self) -> int:
        return self._mail.qsize()


def make_self_signed_cert(folder: Path) -> Path:
    """cert.pem and key.pem for 127.0.0.1 in ``folder`` (openssl CLI); returns the certificate's path."""
    if shutil.which("openssl") is None:
        import pytest

        pytest.skip("openssl is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert
