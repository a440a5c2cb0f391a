"""The e-mail notifier against a real SMTP server (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.alerts.alarm import Transition
from hub.alerts.notify import Notification, NotifyError
from hub.alerts.notify.smtp import SmtpConfig, SmtpNotifier
from hub.config import Secret
from tests.hub.alerts.notify.stubs import T0, VI_MESSAGE, SmtpSink, make_alarm, run

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def config(sink: SmtpSink, **over) -> SmtpConfig:
    values = {
        "name": "duty-mail",
        "host": "127.0.0.1",
        "port": sink.port,
        "security": "none",
        "sender": "ioc-canhbao@hanoi.example",
        "to": ["truc-ban@hanoi.example", "pct@hanoi.example"],
        "timeout_s": 5,
        **over,
    }
    return SmtpConfig.model_validate(values)


async def send(cfg: SmtpConfig, note: Notification) -> None:
    n = SmtpNotifier(cfg)
    await n.start()
    try:
        await n.send(note)
    finally:
        await n.close()


def test_vietnamese_subject_and_body_survive():
    sink = SmtpSink().start()
    alarm = make_alarm(subject="sông-hồng/hà-nội")
    note = Notification.make(alarm, Transition.CREATED, "duty-mail", T0)
    try:
        run(send(config(sink), note))
        mail = run(sink.next_mail())
    finally:
        sink.stop()
    assert mail.mail_from == "ioc-canhbao@hanoi.example"
    assert mail.rcpt_tos == ["truc-ban@hanoi.example", "pct@hanoi.example"]
    assert mail.raw.isascii() or b"=?utf-8?" in mail.raw  # headers are transport-encoded (RFC 2047)
    msg = mail.message()
    assert msg["Subject"] == f"[IOC] MAJOR flood_level sông-hồng/hà-nội ACTIVE_UNACK: {VI_MESSAGE}"
    assert msg["X-Iocgw-Notification"] == note.id
    assert msg["References"] == f"<alarm-{alarm.id}@hanoi.example>"
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    body = msg.get_content()
    assert VI_MESSAGE in body and "Subject: sông-hồng/hà-nội" in body and "Severity: major" in body


def test_escalation_subject_and_login(monkeypatch):
    monkeypatch.setenv("IOCGW_TEST_SMTP_PASSWORD", "mật-khẩu")
    sink = SmtpSink(users={"ioc": "mật-khẩu"}).start()
    note = Notification.make(make_alarm(), Transition.CREATED, "duty-mail", T0, escalation_key="0.r")
    cfg = config(sink, username="ioc", password=Secret(env="IOCGW_TEST_SMTP_PASSWORD"))
    try:
        run(send(cfg, note))
        mail = run(sink.next_mail())
    finally:
        sink.stop()
    assert mail.login == "ioc"
    assert mail.message()["Subject"].startswith("[IOC] ESCALATION MAJOR flood_level")


def test_refused_login_is_retried_refused_recipient_is_not(monkeypatch):
    monkeypatch.setenv("IOCGW_TEST_SMTP_PASSWORD", "wrong")
    sink = SmtpSink(users={"ioc": "right"}, refuse={"nobody@hanoi.example"}).start()
    note = Notification.make(make_alarm(), Transition.CREATED, "duty-mail", T0)
    try:
        with pytest.raises(NotifyError, match="login refused") as login:
            run(send(config(sink, username="ioc", password=Secret(env="IOCGW_TEST_SMTP_PASSWORD")), note))
        with pytest.raises(NotifyError, match="every recipient refused") as rcpt:
            run(send(config(sink, to=["nobody@hanoi.example"]), note))
        assert sink.received() == 0
    finally:
        sink.stop()
    assert login.value.retryable is True and rcpt.value.retryable is False


def test_starttls_with_a_checked_certificate(tmp_path: Path):
    sink = SmtpSink(tls_dir=tmp_path / "tls").start()
    note = Notification.make(make_alarm(), Transition.CREATED, "duty-mail", T0)
    try:
        run(send(config(sink, security="starttls", ca_file=sink.cert), note))
        mail = run(sink.next_mail())
        with pytest.raises(NotifyError) as untrusted:  # the system CAs do not know the self-signed certificate
            run(send(config(sink, security="starttls"), note))
    finally:
        sink.stop()
    assert VI_MESSAGE in mail.message().get_content()
    assert untrusted.value.retryable


def test_line_breaks_in_the_alarm_message_stay_out_of_the_subject():
    note = Notification.make(make_alarm(message="Lũ quét\r\nBcc: x@evil.example"), Transition.CREATED, "m", T0)
    sink = SmtpSink().start()
    try:
        run(send(config(sink), note))
        msg = run(sink.next_mail()).message()
    finally:
        sink.stop()
    assert msg["Subject"].endswith(": Lũ quét Bcc: x@evil.example") and msg["Bcc"] is None


def test_login_needs_both_user_and_password():
    with pytest.raises(ValueError, match="both username and password"):
        SmtpConfig(name="m", host="h", sender="a@b", to=["c@d"], username="u")
