"""The Telegram channel against a local Bot API server that checks each request against the documented format."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.secret import Secret
from hub.warn.channels.base import ChannelError
from hub.warn.channels.registry import CHANNELS, build_channel
from hub.warn.channels.telegram import MAX_TEXT, TelegramChannel, TelegramConfig, message_text, utf16_len
from hub.warn.message import WarningMessage
from testkit.localsvc import free_port
from tests.hub.warn.fake_chat_apis import FakeTelegram, Forced, run, yaml_samples

TOKEN = "7012345678:AAH-test_token-0123456789abcdefghij"
CHAT = "123456789"
T0 = datetime(2026, 10, 28, 3, 0, tzinfo=UTC)
VI = (
    "CẢNH BÁO LŨ: Mực nước sông Hồng tại trạm Hà Nội đã vượt báo động 2 (10,70 m) lúc 10:00 ngày 28/10. "
    "Người dân ven sông ở phường Phúc Tân chủ động di dời đồ đạc, tránh xa bờ; không đưa trẻ em ra sông."
)
EN = "FLOOD WARNING: the Red River at Hanoi station passed alert level 2 (10.70 m) at 10:00 on 28/10."


def warning(address: str = CHAT, text_vi: str = VI, text_en: str = EN) -> WarningMessage:
    return WarningMessage(
        id=f"flood-01.3.created/r-17/tg-hanoi/{address}",
        channel="tg-hanoi",
        recipient_id="r-17",
        address=address,
        text_vi=text_vi,
        text_en=text_en,
        alarm_id="flood-01",
        transition="created",
        hazard="flood",
        severity="major",
        area="01",
        created_at=T0,
    )


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv("IOCGW_TEST_TG_TOKEN", TOKEN)


def channel(base_url: str, **over) -> TelegramChannel:
    fields: dict[str, Any] = {"name": "tg-hanoi", "token": Secret(env="IOCGW_TEST_TG_TOKEN"), "base_url": base_url}
    fields.update({"timeout_s": 2, **over})
    return TelegramChannel(TelegramConfig.model_validate(fields))


async def one_send(fake: FakeTelegram, message: WarningMessage, **over):
    """Start the fake and a channel, send once, stop both; the receipt, or the ChannelError raised."""
    await fake.start()
    ch = channel(fake.base_url, **over)
    await ch.start()
    try:
        return await ch.send(message)
    except ChannelError as exc:
        return exc
    finally:
        await ch.close()
        await fake.stop()


def test_registered_and_built_from_its_config():
    assert CHANNELS.plugin("telegram") is TelegramChannel
    cfg = TelegramConfig(name="tg", token=Secret(env="X"))
    assert isinstance(build_channel(cfg), TelegramChannel)
    assert str(cfg.base_url) == "https://api.telegram.org/"


def test_delivered_with_the_vietnamese_text_intact_and_the_message_id():
    fake = FakeTelegram(TOKEN, chats={CHAT})
    receipt = run(one_send(fake, warning()))
    assert fake.violations == []
    assert receipt.state == "delivered" and receipt.provider_id == "101"
    (sent,) = fake.delivered
    assert sent["text"] == VI  # every diacritic as written: the body is UTF-8 JSON, not escaped or normalised
    assert sent["chat_id"] == CHAT
    assert sent["link_preview_options"] == {"is_disabled": True}
    (request,) = fake.received
    assert request.method == "POST" and request.path == f"/bot{TOKEN}/sendMessage"
    assert "ư" in request.body.decode("utf-8")  # sent as UTF-8, not as \\u escapes


def test_english_follows_when_the_config_asks_for_it():
    fake = FakeTelegram(TOKEN)
    run(one_send(fake, warning(), include_en=True))
    assert fake.violations == []
    assert fake.delivered[0]["text"] == f"{VI}\n\n{EN}"


def test_a_long_warning_is_cut_to_4096_and_english_is_dropped_first():
    long_vi = ("Mưa lớn kéo dài ở các xã vùng núi, nguy cơ sạt lở đất và lũ quét rất cao. " * 80).strip()
    assert len(long_vi) > MAX_TEXT
    fake = FakeTelegram(TOKEN)
    run(one_send(fake, warning(text_vi=long_vi), include_en=True))
    assert fake.violations == []  # the fake refuses, and records, a text over 4096
    text = fake.delivered[0]["text"]
    assert utf16_len(text) <= MAX_TEXT and text.endswith("…") and long_vi.startswith(text[:-1].rstrip())
    # Vietnamese that fits keeps its English only while both fit
    short = warning(text_vi="Mưa lớn.", text_en="x" * 5000)
    assert message_text(short, include_en=True) == "Mưa lớn."


def test_astral_characters_count_twice_against_the_limit():
    text = message_text(warning(text_vi="🌊" * 3000), include_en=False)
    assert utf16_len(text) <= MAX_TEXT and len(text) < 2100


def test_flood_control_is_retryable_after_the_servers_retry_after():
    fake = FakeTelegram(TOKEN)
    fake.flood(retry_after=7)
    err = run(one_send(fake, warning()))
    assert isinstance(err, ChannelError)
    assert err.retryable is True and err.retry_after_s == 7.0
    assert "429" in str(err)
    assert fake.violations == []


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda: FakeTelegram(TOKEN, blocked={CHAT}), "403"),
        (lambda: FakeTelegram(TOKEN, chats={"999"}), "chat not found"),
    ],
    ids=["blocked-by-user", "chat-not-found"],
)
def test_blocked_and_unknown_chats_are_final(setup, expected):
    fake = setup()
    err = run(one_send(fake, warning()))
    assert isinstance(err, ChannelError) and err.retryable is False
    assert expected in str(err)
    assert fake.delivered == [] and fake.violations == []


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(status):
    fake = FakeTelegram(TOKEN)
    fake.forced.append(Forced(status, {"ok": False, "error_code": status, "description": "Bad Gateway"}))
    err = run(one_send(fake, warning()))
    assert isinstance(err, ChannelError) and err.retryable is True and err.retry_after_s is None
    assert str(status) in str(err)


def test_a_server_that_never_answers_times_out_as_retryable():
    async def main():
        fake = FakeTelegram(TOKEN)
        fake.forced.append(Forced(hang=True))
        await fake.start()
        ch = channel(fake.base_url, timeout_s=0.3)
        await ch.start()
        try:
            with pytest.raises(ChannelError, match="TimeoutError") as err:
                await ch.send(warning())
        finally:
            fake.release()
            await ch.close()
            await fake.stop()
        return err.value

    err = run(main())
    assert err.retryable is True
    assert TOKEN not in str(err)


def test_unreachable_server_is_retryable_and_the_error_holds_no_token():
    async def main():
        ch = channel(f"http://127.0.0.1:{free_port()}")
        await ch.start()
        try:
            with pytest.raises(ChannelError) as err:
                await ch.send(warning())
        finally:
            await ch.close()
        return err.value

    err = run(main())
    assert err.retryable is True and "unreachable" in str(err)
    assert TOKEN not in str(err) and TOKEN.split(":")[1] not in str(err)


def test_token_is_read_from_its_file_at_each_attempt_and_never_logged(tmp_path: Path, caplog):
    token_file = tmp_path / "tg-token"
    token_file.write_text("7012345678:AAH-an-old-revoked-token\n", encoding="utf-8")
    caplog.set_level(logging.DEBUG)

    async def main():
        fake = FakeTelegram(TOKEN)
        await fake.start()
        ch = channel(fake.base_url, token=Secret(file=token_file))
        await ch.start()
        try:
            with pytest.raises(ChannelError) as refused:
                await ch.send(warning())
            token_file.write_text(TOKEN + "\n", encoding="utf-8")  # the operator replaces the token
            receipt = await ch.send(warning())
        finally:
            await ch.close()
            await fake.stop()
        return refused.value, receipt, fake

    refused, receipt, fake = run(main())
    # A refused token is the operator's fix, not the recipient's fault: retried, and the queued warnings still go.
    assert refused.retryable is True and "401" in str(refused)
    assert "an-old-revoked-token" not in str(refused)
    assert receipt.state == "delivered" and len(fake.delivered) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged and "an-old-revoked-token" not in logged


def test_a_malformed_token_is_refused_before_any_request(monkeypatch):
    monkeypatch.setenv("IOCGW_TEST_TG_TOKEN", "123:abc/../../evil?x=")

    async def main():
        fake = FakeTelegram(TOKEN)
        await fake.start()
        ch = channel(fake.base_url)
        await ch.start()
        try:
            with pytest.raises(ChannelError, match="malformed") as err:
                await ch.send(warning())
        finally:
            await ch.close()
            await fake.stop()
        return err.value, fake

    err, fake = run(main())
    assert err.retryable is True and fake.received == [] and "evil" not in str(err)


def test_the_documented_config_sample_validates():
    samples = yaml_samples("telegram")
    assert samples, "docs/warnings-chat.md (or docs/warnings.md) has no telegram YAML sample"
    for sample in samples:
        TelegramConfig.model_validate(sample)
