"""The Zalo channel (OA messages and ZNS templates) against local OA, ZNS and OAuth v4 servers that check each request
against the documented format and spend refresh tokens as Zalo does (each one once)."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub.secret import Secret
from hub.warn.channels.base import ChannelError
from hub.warn.channels.registry import CHANNELS
from hub.warn.channels.zalo import ZaloChannel, ZaloConfig, oa_text, template_data, zns_phone
from hub.warn.message import WarningMessage
from testkit.localsvc import free_port
from tests.hub.warn.fake_chat_apis import FakeZalo, Forced, run, yaml_samples

APP_ID = "4318765432109876543"
SECRET = "Zx9-app-secret-key"
FIRST_REFRESH = "RT-first-from-authorisation"
USER = "5432198760123456789"
PHONE = "+84912345678"
TEMPLATE = "301234"
PARAMS = {"loai": "hazard", "muc_do": "severity", "khu_vuc": "area", "thoi_gian": "created_at", "noi_dung": "text_vi"}
T0 = datetime(2026, 10, 28, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam
VI = "CẢNH BÁO LŨ: Mực nước sông Hồng tại trạm Hà Nội vượt báo động 2 (10,70 m). Người dân ven sông chủ động di dời."


def warning(address: str = USER, channel: str = "zalo-hanoi", recipient: str = "r-17") -> WarningMessage:
    return WarningMessage(
        id=f"flood-01.3.created/{recipient}/{channel}",
        channel=channel,
        recipient_id=recipient,
        address=address,
        text_vi=VI,
        text_en="FLOOD WARNING: Red River at Hanoi above alert level 2.",
        alarm_id="flood-01",
        transition="created",
        hazard="flood",
        severity="major",
        area="01",
        created_at=T0,
    )


@pytest.fixture
def env(tmp_path: Path, monkeypatch):
    """Secrets as an operator would give them: the app secret in a variable, the first refresh token in a file."""
    monkeypatch.setenv("IOCGW_TEST_ZALO_SECRET", SECRET)
    (tmp_path / "refresh").write_text(FIRST_REFRESH + "\n", encoding="utf-8")
    return tmp_path


def fake_zalo(**over) -> FakeZalo:
    fields: dict[str, Any] = {"templates": {TEMPLATE: set(PARAMS)}, "followers": {USER}}
    fields.update(over)
    return FakeZalo(APP_ID, SECRET, FIRST_REFRESH, **fields)


def config(fake: FakeZalo, tmp: Path, **over) -> ZaloConfig:
    fields: dict[str, Any] = {
        "name": "zalo-hanoi",
        "app_id": APP_ID,
        "secret_key": Secret(env="IOCGW_TEST_ZALO_SECRET"),
        "refresh_token": Secret(file=tmp / "refresh"),
        "state_dir": tmp / "state",
        "oa_base_url": fake.base_url,
        "zns_base_url": fake.base_url,
        "oauth_base_url": fake.base_url,
        "timeout_s": 2,
    }
    fields.update(over)
    return ZaloConfig.model_validate(fields)


def zns_config(fake: FakeZalo, tmp: Path, **over) -> ZaloConfig:
    fields: dict[str, Any] = {"mode": "zns", "template_id": TEMPLATE, "template_params": PARAMS, "name": "zns-hanoi"}
    fields.update(over)
    return config(fake, tmp, **fields)


def state(tmp: Path, name: str = "zalo-hanoi") -> dict:
    return json.loads((tmp / "state" / f"zalo-{name}.json").read_text(encoding="utf-8"))


async def started(cfg: ZaloConfig, **kw) -> ZaloChannel:
    ch = ZaloChannel(cfg, **kw)
    await ch.start()
    return ch


def test_registered_under_zalo():
    assert CHANNELS.plugin("zalo") is ZaloChannel
    assert CHANNELS.config("zalo") is ZaloConfig


def test_zns_mode_needs_a_template():
    base = {"name": "z", "app_id": "1", "secret_key": {"env": "A"}, "refresh_token": {"env": "B"}, "state_dir": "/x"}
    with pytest.raises(ValidationError, match="template_id and template_params"):
        ZaloConfig.model_validate({**base, "mode": "zns"})
    with pytest.raises(ValidationError):
        ZaloConfig.model_validate({**base, "mode": "zns", "template_id": "1", "template_params": {"a": "nonsense"}})
    assert ZaloConfig.model_validate({**base, "mode": "oa"}).mode == "oa"


def test_oa_message_first_send_refreshes_persists_and_delivers(env):
    async def main():
        fake = await fake_zalo().start()
        ch = await started(config(fake, env))
        try:
            receipt = await ch.send(warning())
        finally:
            await ch.close()
            await fake.stop()
        return fake, receipt

    fake, receipt = run(main())
    assert fake.violations == []
    assert receipt.state == "delivered" and receipt.provider_id == "oa-msg-1"
    (sent,) = fake.oa_messages
    assert sent == {"recipient": {"user_id": USER}, "message": {"text": VI}}
    assert fake.refreshes == 1
    saved = state(env)
    # The first refresh token is spent; the state file holds the one Zalo gave in exchange.
    assert saved["refresh_token"] == "RT-1-fake" and saved["access_token"] == "AT-1-fake"
    assert saved["expires_at"] > saved["updated_at"] + 80000
    assert stat.S_IMODE((env / "state" / "zalo-zalo-hanoi.json").stat().st_mode) == 0o600
    assert [p.name for p in (env / "state").iterdir()] == ["zalo-zalo-hanoi.json"]  # no temporary file left


def test_zns_template_data_from_the_warning_and_tracking_id(env):
    async def main():
        fake = await fake_zalo().start()
        ch = await started(zns_config(fake, env))
        try:
            receipt = await ch.send(warning(address=PHONE, channel="zns-hanoi"))
        finally:
            await ch.close()
            await fake.stop()
        return fake, receipt

    fake, receipt = run(main())
    assert fake.violations == []
    # Accepted by ZNS is not yet on the phone: 'sent', with Zalo's msg_id for matching its delivery event.
    assert receipt.state == "sent" and receipt.provider_id == "zns-1"
    (sent,) = fake.zns_messages
    assert sent["phone"] == "84912345678"
    assert sent["template_id"] == TEMPLATE
    assert sent["tracking_id"] == "flood-01.3.created/r-17/zns-hanoi"
    assert sent["template_data"] == {
        "loai": "flood",
        "muc_do": "major",
        "khu_vuc": "01",
        "thoi_gian": "10:00 28/10/2026",
        "noi_dung": VI,
    }


def test_expired_token_refreshes_once_retries_and_a_restart_uses_the_persisted_refresh_token(env):
    async def main():
        fake = await fake_zalo().start()
        cfg = config(fake, env)
        ch = await started(cfg)
        try:
            await ch.send(warning())  # refresh 1: the configured token, spent
            fake.expire_access_tokens()  # Zalo ends the token before our clock says so
            receipt = await ch.send(warning())  # -216, refresh 2, retry
            after_retry = (fake.refreshes, fake.token_rejections, state(env)["refresh_token"])
        finally:
            await ch.close()
        # Restart: a new channel object reads the state file. With the configured (spent) token it would fail.
        fake.expire_access_tokens()
        again = await started(cfg)
        try:
            after_restart = await again.send(warning())
        finally:
            await again.close()
            await fake.stop()
        return fake, receipt, after_retry, after_restart

    fake, receipt, after_retry, after_restart = run(main())
    assert fake.violations == []
    assert receipt.state == "delivered"
    assert after_retry == (2, 1, "RT-2-fake")
    assert after_restart.state == "delivered"
    assert fake.refreshes == 3 and state(env)["refresh_token"] == "RT-3-fake"
    assert FIRST_REFRESH not in fake.live_refresh
    assert len(fake.oa_messages) == 3


def test_a_restart_with_a_valid_access_token_does_not_refresh(env):
    async def main():
        fake = await fake_zalo().start()
        cfg = config(fake, env)
        first = await started(cfg)
        try:
            await first.send(warning())
        finally:
            await first.close()
        second = await started(cfg)
        try:
            await second.send(warning())
        finally:
            await second.close()
            await fake.stop()
        return fake

    fake = run(main())
    assert fake.refreshes == 1 and len(fake.oa_messages) == 2 and fake.violations == []


def test_concurrent_sends_meeting_an_expired_token_refresh_once(env):
    n = 5

    async def main():
        fake = await fake_zalo().start()
        ch = await started(config(fake, env))
        try:
            await ch.send(warning())
            fake.expire_access_tokens()
            # The refresh is held at the server until every send has met the expired token, so all of them are
            # in flight with the stale token when the refresh happens.
            fake.hold_refresh = asyncio.Event()
            sends = [asyncio.create_task(ch.send(warning(recipient=f"r-{i}"))) for i in range(n)]
            await fake.wait_for(lambda: fake.token_rejections == n)
            fake.hold_refresh.set()
            receipts = await asyncio.gather(*sends)
        finally:
            await ch.close()
            await fake.stop()
        return fake, receipts

    fake, receipts = run(main())
    assert fake.violations == []
    assert [r.state for r in receipts] == ["delivered"] * n
    assert fake.refreshes == 2  # the first send's, and one for all five
    assert len(fake.oa_messages) == n + 1


def test_concurrent_sends_past_the_expiry_time_refresh_once(env):
    now = [1_800_000_000.0]

    async def main():
        fake = await fake_zalo(expires_in=3600).start()
        ch = await started(config(fake, env), clock=lambda: now[0])
        try:
            await ch.send(warning())
            now[0] += 3600 - 60  # inside the refresh margin (300 s): refreshed before sending, not after a refusal
            receipts = await asyncio.gather(*(ch.send(warning(recipient=f"r-{i}")) for i in range(4)))
        finally:
            await ch.close()
            await fake.stop()
        return fake, receipts

    fake, receipts = run(main())
    assert fake.refreshes == 2 and fake.token_rejections == 0
    assert all(r.state == "delivered" for r in receipts) and fake.violations == []


def test_invalid_phone_is_final_and_sends_nothing(env):
    async def main():
        fake = await fake_zalo().start()
        ch = await started(zns_config(fake, env))
        try:
            with pytest.raises(ChannelError, match="not a Vietnamese mobile number") as err:
                await ch.send(warning(address="+4915123456789", channel="zns-hanoi"))
        finally:
            await ch.close()
            await fake.stop()
        return fake, err.value

    fake, err = run(main())
    assert err.retryable is False
    assert fake.received == []  # not even a refresh: nothing is spent on a message that cannot go


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("+84912345678", "84912345678"),
        ("84912345678", "84912345678"),
        ("0912345678", "84912345678"),
        ("+84 91 234 5678", "84912345678"),
        ("0352.123.456", "84352123456"),
    ],
)
def test_phone_normalised_to_84(address, expected):
    assert zns_phone(address) == expected


@pytest.mark.parametrize("address", ["+4915123456789", "0241234567", "84123456789", "0912", "", "+84 91 234 567 890"])
def test_phone_that_is_not_a_vietnamese_mobile_is_refused(address):
    with pytest.raises(ValueError):
        zns_phone(address)


def test_oa_text_appends_english_only_when_both_fit():
    message = warning()
    assert oa_text(message, include_en=True, limit=2000) == f"{VI}\n\n{message.text_en}"
    assert oa_text(message, include_en=False, limit=2000) == VI
    assert oa_text(message, include_en=True, limit=len(VI)) == VI
    cut = oa_text(message, include_en=False, limit=40)
    assert len(cut) <= 40 and cut.endswith("…") and VI.startswith(cut[:-1])


def test_template_time_is_vietnam_local():
    data = template_data(warning(), {"t": "created_at", "h": "hazard", "a": "alarm_id"})
    assert data == {"t": "10:00 28/10/2026", "h": "flood", "a": "flood-01"}


@pytest.mark.parametrize(
    ("zns", "setup", "retryable", "code"),
    [
        (True, lambda f: f.force_error(-100, "Unknown error"), True, "-100"),
        (True, lambda f: f.force_error(-115, "Out of quota"), True, "-115"),
        (True, lambda f: f.force_error(-109, "Template ID invalid"), False, "-109"),
        (True, lambda f: f.force_error(-108, "Phone number invalid"), False, "-108"),
        (False, lambda f: f.followers.discard(USER), False, "-213"),
    ],
    ids=["unknown-retry", "quota-retry", "template-final", "phone-final", "not-a-follower-final"],
)
def test_error_codes_say_whether_to_retry(env, zns, setup, retryable, code):
    async def main():
        fake = await fake_zalo().start()
        setup(fake)
        cfg = zns_config(fake, env) if zns else config(fake, env)
        ch = await started(cfg)
        try:
            with pytest.raises(ChannelError) as err:
                await ch.send(warning(address=PHONE if zns else USER, channel=cfg.name))
        finally:
            await ch.close()
            await fake.stop()
        return fake, err.value

    fake, err = run(main())
    assert err.retryable is retryable and code in str(err)
    assert fake.violations == []


def test_a_template_zalo_does_not_know_is_final(env):
    async def main():
        fake = await fake_zalo().start()
        ch = await started(zns_config(fake, env, template_id="999999"))
        try:
            with pytest.raises(ChannelError, match="-109") as err:
                await ch.send(warning(address=PHONE, channel="zns-hanoi"))
        finally:
            await ch.close()
            await fake.stop()
        return err.value

    assert run(main()).retryable is False


def test_a_resend_carries_the_same_tracking_id(env):
    async def main():
        fake = await fake_zalo().start()
        fake.force_error(-100, "Unknown error")
        ch = await started(zns_config(fake, env))
        message = warning(address=PHONE, channel="zns-hanoi")
        try:
            with pytest.raises(ChannelError):
                await ch.send(message)
            await ch.send(message)
        finally:
            await ch.close()
            await fake.stop()
        return fake, message

    fake, message = run(main())
    tracking = [r.json()["tracking_id"] for r in fake.received if r.path == "/message/template"]
    assert tracking == [message.id, message.id]


def test_http_errors_and_timeouts_are_retryable(env):
    async def main():
        fake = await fake_zalo().start()
        ch = await started(config(fake, env, timeout_s=0.3))
        try:
            await ch.send(warning())
            fake.forced.append(Forced(503, {"error": -1, "message": "busy"}, {"Retry-After": "12"}))
            with pytest.raises(ChannelError, match="HTTP 503") as busy:
                await ch.send(warning())
            fake.forced.append(Forced(hang=True))
            with pytest.raises(ChannelError, match="TimeoutError") as slow:
                await ch.send(warning())
            fake.release()
        finally:
            await ch.close()
            await fake.stop()
        return busy.value, slow.value

    busy, slow = run(main())
    assert busy.retryable is True and busy.retry_after_s == 12.0
    assert slow.retryable is True


def test_unreachable_oauth_server_is_retryable_and_spends_nothing(env):
    async def main():
        fake = await fake_zalo().start()
        ch = await started(config(fake, env, oauth_base_url=f"http://127.0.0.1:{free_port()}"))
        try:
            with pytest.raises(ChannelError, match="unreachable") as err:
                await ch.send(warning())
        finally:
            await ch.close()
            await fake.stop()
        return fake, err.value

    fake, err = run(main())
    assert err.retryable is True and FIRST_REFRESH in fake.live_refresh
    assert not (env / "state").exists()


def test_a_refused_refresh_token_recovers_from_a_new_configured_one(env):
    async def main():
        fake = await fake_zalo().start()
        fake.live_refresh.clear()  # the configured token was already spent elsewhere (or expired)
        ch = await started(config(fake, env))
        try:
            with pytest.raises(ChannelError, match="re-authorise") as refused:
                await ch.send(warning())
            _, fresh = fake.issue()  # the operator re-authorises and writes the new refresh token
            (env / "refresh").write_text(fresh, encoding="utf-8")
            receipt = await ch.send(warning())
        finally:
            await ch.close()
            await fake.stop()
        return fake, refused.value, receipt

    fake, refused, receipt = run(main())
    assert refused.retryable is True
    assert receipt.state == "delivered" and fake.violations == []
    assert state(env)["refresh_token"].startswith("RT-") and state(env)["refresh_token"] in fake.live_refresh


def test_tokens_and_the_secret_are_never_logged(env, caplog):
    caplog.set_level(logging.DEBUG)

    async def main():
        fake = await fake_zalo().start()
        ch = await started(config(fake, env))
        try:
            await ch.send(warning())
            fake.expire_access_tokens()
            await ch.send(warning())
        finally:
            await ch.close()
            await fake.stop()
        return fake

    fake = run(main())
    assert fake.refreshes == 2
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "refreshed" in logged  # the refresh itself is logged, so the check below looks at real lines
    for secret in (SECRET, FIRST_REFRESH, "RT-1-fake", "RT-2-fake", "AT-1-fake", "AT-2-fake"):
        assert secret not in logged


def test_the_documented_config_samples_validate():
    samples = yaml_samples("zalo")
    assert {s.get("mode", "oa") for s in samples} == {"oa", "zns"}, "docs need a zalo sample for each mode"
    for sample in samples:
        ZaloConfig.model_validate(sample)
