"""E-mail target: one plain-text UTF-8 message per notification, sent with the standard library's smtplib.

smtplib blocks, so each send runs in a worker thread (``asyncio.to_thread``) with the socket timeout of the config.
Every message about one alarm carries the same ``References`` header, so mail clients show them as one thread.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from hub.alerts.notify.base import Notification, Notifier, NotifierConfig, NotifyError
from hub.alerts.notify.registry import register_notifier
from hub.secret import Secret

log = logging.getLogger(__name__)

_MAX_SUBJECT_MESSAGE = 120  # characters of the alarm message kept in the subject line


class SmtpConfig(NotifierConfig):
    """Which server, how to log in, and who gets the mail."""

    type: Literal["smtp"] = "smtp"
    host: str = Field(description="SMTP server (a relay or submission server)")
    port: int = Field(587, ge=1, le=65535, description="587 for submission with STARTTLS, 465 for TLS, 25 for relay")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls: upgrade after connecting; tls: TLS from the start (port 465); none: plain"
    )
    ca_file: Path | None = Field(None, description="CA bundle to check the server with; default: the system's")
    username: str | None = Field(None, description="Log in as this user; default: no login")
    password: Secret | None = Field(None, description="Password for username")
    sender: str = Field(description="From address, e.g. ioc-canhbao@hanoi.gov.vn")
    to: list[str] = Field(min_length=1, description="Recipients")
    subject_prefix: str = Field("[IOC]", description="Start of every subject line")

    @model_validator(mode="after")
    def _login_pair(self) -> SmtpConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        return self


def build_message(notification: Notification, config: SmtpConfig) -> EmailMessage:
    """The e-mail for one notification: severity, rule, subject and state in the subject line, details below."""
    a = notification.alarm
    message = a.message if len(a.message) <= _MAX_SUBJECT_MESSAGE else a.message[: _MAX_SUBJECT_MESSAGE - 1] + "…"
    parts = [config.subject_prefix, "ESCALATION" if notification.escalation else ""]
    parts += [a.severity.value.upper(), a.rule, a.subject, a.state.value]
    subject = " ".join(p for p in parts if p)
    if message:
        subject += f": {message}"
    subject = " ".join(subject.split())  # a line break in a header is refused (and would be header injection)
    domain = config.sender.rpartition("@")[2] or "iocgw"
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Subject"] = subject
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.to)
    msg["Date"] = format_datetime(notification.created_at)
    msg["Message-ID"] = make_msgid(idstring=notification.id.replace(".", "-"), domain=domain)
    # A fixed id per alarm that no message has: clients thread on References even when the first mail is missing.
    msg["References"] = f"<alarm-{a.id}@{domain}>"
    msg["X-Iocgw-Notification"] = notification.id
    intro = "Not acknowledged in time: escalated to you." if notification.escalation else notification.summary()
    msg.set_content("\n".join([intro, "", *notification.detail_lines(), ""]), charset="utf-8")
    return msg


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """Log in; credentials with non-ASCII characters go as UTF-8 AUTH PLAIN (RFC 4616), which smtplib cannot do."""
    if user.isascii() and password.isascii():
        smtp.login(user, password)
        return
    smtp.ehlo_or_helo_if_needed()
    if "plain" not in smtp.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPNotSupportedError("server offers no AUTH PLAIN for non-ASCII credentials")
    token = base64.b64encode(b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _tls_context(config: SmtpConfig) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)


@register_notifier("smtp", SmtpConfig)
class SmtpNotifier(Notifier):
    """A 4xx reply, a lost connection or a timeout is retried; a 5xx reply is final, except for a failed login.

    A failed login is retried because the fix (a new password in the secret file or variable) is the operator's
    and should not cost the alarms queued meanwhile; the password is read again at every attempt.
    """

    config: SmtpConfig

    def _send_blocking(self, msg: EmailMessage) -> None:
        cfg = self.config
        smtp: smtplib.SMTP
        if cfg.security == "tls":
            smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_s, context=_tls_context(cfg))
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
        with smtp:
            if cfg.security == "starttls":
                smtp.starttls(context=_tls_context(cfg))
            if cfg.username is not None and cfg.password is not None:
                _login(smtp, cfg.username, cfg.password.read())
            refused = smtp.send_message(msg)  # raises unless at least one recipient was accepted
        if refused:
            log.warning("smtp %s: delivered, but these recipients were refused: %s", self.name, refused)

    async def send(self, notification: Notification) -> None:
        msg = build_message(notification, self.config)
        try:
            await asyncio.to_thread(self._send_blocking, msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(f"smtp {self.name}: login refused: {exc}", retryable=True) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            retryable = any(400 <= code < 500 for code in codes)
            raise NotifyError(
                f"smtp {self.name}: every recipient refused: {exc.recipients}", retryable=retryable
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise NotifyError(
                f"smtp {self.name}: server replied {exc.smtp_code} {exc.smtp_error!r}", retryable=exc.smtp_code < 500
            ) from None
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            # Lost connection, timeout, TLS failure, no STARTTLS offered, unreadable password: all may pass.
            raise NotifyError(f"smtp {self.name}: {type(exc).__name__}: {exc}", retryable=True) from None
