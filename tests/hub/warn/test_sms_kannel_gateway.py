"""The Kannel channel through a real bearerbox and smsbox to Kannel's fake SMSC, and its delivery reports back to a
local HTTP server at the dlr_url: what a phone would get, and what the hub would hear."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from hub.warn.channels.base import ChannelError
from hub.warn.channels.sms_kannel import KannelChannel, KannelConfig, dlr_state
from hub.warn.message import WarningMessage
from hub.warn.sms_text import plan_sms
from testkit.kannel import Kannel, reassemble
from testkit.localsvc import free_port
from tests.hub.warn.test_sms_kannel import VI, warning

pytestmark = pytest.mark.services

DLR_KEY = "dlr-key-0123456789abcdef"
LONG_VI = (
    "CẢNH BÁO LŨ KHẨN CẤP: Mực nước sông Hương tại Kim Long đạt 3,62 m, trên báo động 3. Người dân các phường "
    "Kim Long, Phú Hậu, Hương Sơ khẩn trương di dời người và tài sản lên nơi cao; không qua lại ngầm tràn. "
    "Chi tiết: https://ioc.hue.gov.vn/w/flood-01"
)


@pytest.fixture
def kannel(tmp_path: Path) -> Iterator[Kannel]:
    gw = Kannel(tmp_path / "kannel")
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(autouse=True)
def _secrets(monkeypatch, kannel: Kannel):
    monkeypatch.setenv("IOCGW_TEST_KANNEL_PW", kannel.password)
    monkeypatch.setenv("IOCGW_TEST_DLR_KEY", DLR_KEY)


def config(kannel: Kannel, dlr_port: int | None = None, **over: Any) -> KannelConfig:
    fields: dict[str, Any] = {
        "name": "sms-hue",
        "sendsms_url": kannel.sendsms_url,
        "username": kannel.username,
        "password": {"env": "IOCGW_TEST_KANNEL_PW"},
        "from": "IOC-HUE",
        "dlr_url": f"http://127.0.0.1:{dlr_port or free_port()}/api/warnings/dlr/kannel"
        "?key={key}&id={id}&type=%d&reply=%A",
        "dlr_key": {"env": "IOCGW_TEST_DLR_KEY"},
        "max_parts": 10,
        "timeout_s": 5,
    }
    return KannelConfig.model_validate({**fields, **over})


async def send(kannel: Kannel, message: WarningMessage, **over: Any) -> Any:
    channel = KannelChannel(config(kannel, **over))
    await channel.start()
    try:
        return await channel.send(message)
    finally:
        await channel.close()


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_vietnamese_text_arrives_intact_in_ucs2(kannel: Kannel):
    receipt = run(send(kannel, warning()))
    assert receipt.state == "sent"
    [sms] = kannel.wait_received(1)
    assert (sms.sender, sms.receiver, sms.kind) == ("IOC-HUE", "+84905123456", "ucs-2")
    assert sms.text("ucs2") == VI


def test_gsm7_arrives_unaccented_with_extension_characters(kannel: Kannel):
    text = "Mực nước {BĐ3} [3,62 m] ~ giá 5€ | xem"
    run(send(kannel, warning(text_vi=text, sms_encoding="gsm7")))
    [sms] = kannel.wait_received(1)
    assert sms.kind in ("text", "data")
    assert sms.text("gsm7") == "Muc nuoc {BD3} [3,62 m] ~ gia 5€ | xem"


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("ucs2", LONG_VI),
        ("gsm7", LONG_VI * 2),
        ("gsm7", "a" * 152 + "€" + "b" * 10),  # the escape pair would straddle septets 153/154
        ("gsm7", "{" * 80 + "x"),  # 161 septets in 81 characters
    ],
    ids=["ucs2", "gsm7", "gsm7-escape-at-boundary", "gsm7-all-escapes"],
)
def test_a_long_message_arrives_as_concatenated_parts(kannel: Kannel, encoding, text):
    plan = plan_sms(text, encoding)
    assert len(plan.parts) >= 2
    receipt = run(send(kannel, warning(text_vi=text, sms_encoding=encoding)))
    assert f"{len(plan.parts)} part(s)" in receipt.detail
    parts = kannel.wait_received(len(plan.parts))
    assert all(p.kind == "udh" and p.concat is not None for p in parts)
    assert reassemble(parts, encoding) == plan.text_as_sent
    # Kannel splits where the plan says it will: the plan's part count is what the carrier bills.
    assert [p.text(encoding) for p in sorted(parts, key=lambda p: p.concat or (0, 0, 0))] == plan.parts


def test_delivery_report_reaches_the_dlr_url_with_the_message_id(kannel: Kannel):
    async def go() -> list[dict[str, str]]:
        reports: list[dict[str, str]] = []
        delivered = asyncio.Event()

        async def receive(request: web.Request) -> web.Response:
            reports.append(dict(request.query))
            if dlr_state(int(request.query["type"])) == "delivered":
                delivered.set()
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/api/warnings/dlr/kannel", receive)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            receipt = await send(kannel, warning(), dlr_port=port)
            assert receipt.state == "sent"
            await asyncio.wait_for(delivered.wait(), 10)
        finally:
            await runner.cleanup()
        return reports

    reports = run(go())
    message = warning()
    assert {r["id"] for r in reports} == {message.id}
    assert {r["key"] for r in reports} == {DLR_KEY}
    states = [dlr_state(int(r["type"])) for r in reports]
    assert "delivered" in states
    assert set(states) <= {"sent", "delivered"}  # the fake SMSC's "taken" (8) may come first


def test_wrong_password_is_a_final_error(kannel: Kannel, monkeypatch):
    monkeypatch.setenv("IOCGW_TEST_KANNEL_PW", "not-the-password")
    with pytest.raises(ChannelError, match="HTTP 403") as info:
        run(send(kannel, warning()))
    assert not info.value.retryable
    assert kannel.received() == []


def test_a_stopped_gateway_is_retried(kannel: Kannel):
    kannel.stop()
    with pytest.raises(ChannelError, match="unreachable") as info:
        run(send(kannel, warning()))
    assert info.value.retryable
