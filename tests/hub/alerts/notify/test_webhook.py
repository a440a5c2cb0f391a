"""The webhook notifier against a real local HTTP receiver that checks the signature."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from hub.alerts.alarm import Transition
from hub.alerts.notify import Notification, NotifyError
from hub.alerts.notify.webhook import WebhookConfig, WebhookNotifier, sign, verify
from hub.config import Secret
from testkit.localsvc import free_port
from tests.hub.alerts.notify.stubs import T0, VI_MESSAGE, Answer, HttpStub, Seen, make_alarm, run

SECRET = "tắt-đèn-s3cret"  # non-ASCII on purpose: the key is its UTF-8 bytes


def signature_check(secret: str):
    """What a receiver does, written independently of the notifier's own helpers."""

    def check(seen: Seen) -> Answer | None:
        ts = seen.headers.get("X-Iocgw-Timestamp", "")
        expected = hmac.new(secret.encode(), ts.encode() + b"." + seen.body, hashlib.sha256).hexdigest()
        given = seen.headers.get("X-Iocgw-Signature", "")
        if not hmac.compare_digest(f"sha256={expected}", given) or abs(time.time() - int(ts or 0)) > 300:
            return Answer(401, {"error": "bad signature"})
        return None

    return check


def notifier(url: str, **over) -> WebhookNotifier:
    cfg = WebhookConfig(name="ops", url=url, secret=Secret(env="IOCGW_TEST_HOOK_SECRET"), timeout_s=2, **over)
    return WebhookNotifier(cfg)


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("IOCGW_TEST_HOOK_SECRET", SECRET)


def test_signed_json_post_is_accepted():
    async def main():
        stub = await HttpStub(check=signature_check(SECRET)).start()
        n = notifier(stub.url("/iocgw/alerts"), headers={"X-Api-Key": "k"})
        await n.start()
        note = Notification.make(make_alarm(), Transition.CREATED, "ops", T0)
        try:
            await n.send(note)
            seen = await stub.next_request()
        finally:
            await n.close()
            await stub.stop()
        assert seen.method == "POST" and seen.path == "/iocgw/alerts"
        assert seen.headers["Content-Type"] == "application/json; charset=utf-8"
        assert seen.headers["X-Iocgw-Delivery"] == note.id and seen.headers["X-Api-Key"] == "k"
        doc = seen.json()
        assert doc["id"] == note.id and doc["alarm"]["message"] == VI_MESSAGE

    run(main())


def test_wrong_secret_is_rejected_and_final():
    async def main():
        stub = await HttpStub(check=signature_check("another secret")).start()
        n = notifier(stub.url())
        await n.start()
        try:
            with pytest.raises(NotifyError, match="HTTP 401") as err:
                await n.send(Notification.make(make_alarm(), Transition.CREATED, "ops", T0))
        finally:
            await n.close()
            await stub.stop()
        assert err.value.retryable is False

    run(main())


@pytest.mark.parametrize(
    ("answer", "retryable", "retry_after"),
    [
        (Answer(400, {"error": "bad"}), False, None),
        (Answer(404), False, None),
        (Answer(302, headers={"Location": "/elsewhere"}), False, None),
        (Answer(408), True, None),
        (Answer(429, headers={"Retry-After": "7"}), True, 7.0),
        (Answer(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), True, 0.0),
        (Answer(500), True, None),
    ],
)
def test_status_codes_say_whether_to_retry(answer, retryable, retry_after):
    async def main():
        stub = await HttpStub(answers=[answer]).start()
        n = notifier(stub.url())
        await n.start()
        try:
            with pytest.raises(NotifyError) as err:
                await n.send(Notification.make(make_alarm(), Transition.CREATED, "ops", T0))
        finally:
            await n.close()
            await stub.stop()
        assert err.value.retryable is retryable
        assert err.value.retry_after_s == retry_after

    run(main())


def test_unreachable_receiver_is_retryable():
    async def main():
        n = notifier(f"http://127.0.0.1:{free_port()}/hook")
        await n.start()
        try:
            with pytest.raises(NotifyError, match="unreachable") as err:
                await n.send(Notification.make(make_alarm(), Transition.CREATED, "ops", T0))
        finally:
            await n.close()
        assert err.value.retryable

    run(main())


def test_receiver_verification_rejects_replays_and_tampering():
    body = b'{"id":"a.0.created"}'
    now = 1_800_000_000
    ts = str(now)
    sig = sign(SECRET, ts, body)
    assert verify(SECRET, ts, body, sig, now=now + 10)
    assert not verify(SECRET, ts, body, sig, now=now + 301)  # replayed five minutes later
    assert not verify(SECRET, ts, body + b" ", sig, now=now)  # body changed
    assert not verify(SECRET, str(now + 1), body, sig, now=now)  # timestamp changed
    assert not verify("other", ts, body, sig, now=now)
    assert not verify(SECRET, None, body, sig) and not verify(SECRET, ts, body, None)


def test_reserved_headers_cannot_be_overridden():
    with pytest.raises(ValueError, match="X-Iocgw-Signature"):
        WebhookConfig(name="a", url="http://x/", secret=Secret(env="E"), headers={"X-Iocgw-Signature": "forged"})
